"""`python -m bridge.processor`: run one processor worker."""

from bridge.processor.worker import main

main()
