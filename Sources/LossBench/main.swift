print("LossBench")
try CoreBench.run()
