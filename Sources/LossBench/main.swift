print("LossBench: no workloads yet")
KernelBench.run()
