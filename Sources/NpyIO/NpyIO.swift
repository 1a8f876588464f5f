/// NpyIO: reads and writes NumPy's .npy and .npz files.
public enum NpyIO {}
