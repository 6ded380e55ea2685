from mash._entry import main

main()
