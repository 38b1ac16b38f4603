from llmdeck.cli.main import main

main()
