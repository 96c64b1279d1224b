from nnlearn.entry import main

main()
