"""The main job's showcase: `crm-bridge demo` runs the nightly sync end to end on a local deployment (a broker,
an emulated org, the roles as processes) and checks every invariant record by record."""
