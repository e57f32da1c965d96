"""`python -m bridge` is `crm-bridge`."""

from bridge.cli.main import main

main(prog_name="crm-bridge")
