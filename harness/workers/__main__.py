from harness.workers.worker import main

main()
