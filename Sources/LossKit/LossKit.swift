/// LossKit: MMagic's losses, exactly, with gradients, on a small differentiable tensor engine.
public enum LossKit {
    public static let version = "0.1.0"
}
