"""`python -m gateway.simulators.sap [--host H] [--port N]`: run the legacy ERP simulator.

Not the gateway's CLI (`gateway simulate legacy` does the same from there).
"""

from gateway.simulators.sap.app import main

main()
