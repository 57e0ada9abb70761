from hallsim.cli import main

main()
