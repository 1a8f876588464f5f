print("LossBench")
try CoreBench.run()
KernelBench.run()
try OpBench.run()
