print("LossBench")
KernelBench.run()
