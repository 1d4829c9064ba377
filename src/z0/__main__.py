from z0.cli import main

main()
