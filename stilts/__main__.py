"""`python -m stilts ...`, and so `accelerate launch -m stilts run PIPELINE.yaml` (Accelerate runs a
script or a module with Python, not a console command such as `stilts`)."""

from stilts.cli import main

main()
