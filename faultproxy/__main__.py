from faultproxy.cli import main

main()
