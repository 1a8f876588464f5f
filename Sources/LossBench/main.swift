print("LossBench")
try CoreBench.run()
KernelBench.run()
