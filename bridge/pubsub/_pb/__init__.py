"""Generated Pub/Sub API stubs (see ../generate.sh); not edited by hand."""
