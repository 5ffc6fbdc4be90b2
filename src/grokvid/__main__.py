from grokvid.cli.main import main

main()
