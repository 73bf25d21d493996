"""`python -m erp_simulators.sap [--host H] [--port N]`: run the legacy ERP simulator.

Not the gateway's CLI (`gateway simulate legacy` does the same from there).
"""

from erp_simulators.sap.app import main

main()
