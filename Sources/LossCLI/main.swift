print("losscli: not yet built")
