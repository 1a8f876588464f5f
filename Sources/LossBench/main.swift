print("LossBench: no workloads yet")
