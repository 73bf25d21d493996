"""`python -m erp_simulators.netsuite [--host H] [--port N]`: run the cloud ERP simulator.

Not the gateway's own command (see `gateway.cli`, whose `simulate cloud` runs the same app).
"""

from erp_simulators.netsuite.app import main

main()
