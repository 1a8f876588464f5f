import Foundation

/// The loss types by MMagic name: LossKit's own, then any registered with `register(_:)`.
public enum LossRegistry {
    /// The types LossKit ships, in the order `losscli list` shows them.
    public static let builtIn: [LossModule.Type] = [
        L1Loss.self, MSELoss.self, CharbonnierLoss.self, MaskedTVLoss.self, PSNRLoss.self, TVLoss.self,
        L1CompositionLoss.self, MSECompositionLoss.self, CharbonnierCompLoss.self,
        GradientLoss.self,
        GANLoss.self, GANLossComps.self,
        DiscShiftLoss.self, DiscShiftLossComps.self,
        TransferalPerceptualLoss.self,
        PerceptualLoss.self, LightCNNFeatureLoss.self,
    ]

    private static let lock = NSLock()
    nonisolated(unsafe) private static var added: [LossModule.Type] = []

    /// Adds a type (your own loss, see docs/custom-loss.md). A type of the same name replaces
    /// the earlier one, as re-registering does in MMagic with `force=True`.
    public static func register(_ type: LossModule.Type) {
        lock.lock(); defer { lock.unlock() }
        added.removeAll { $0.declaration.name == type.declaration.name }
        added.append(type)
    }

    /// Every type, built-in first; a registered type shadows a built-in one of the same name.
    public static var types: [LossModule.Type] {
        lock.lock(); defer { lock.unlock() }
        let names = Set(added.map { $0.declaration.name })
        return builtIn.filter { !names.contains($0.declaration.name) } + added
    }

    /// Every declaration, for `losscli list`.
    public static var all: [LossTypeDeclaration] { types.map { $0.declaration } }

    public static func type(named name: String) -> LossModule.Type? {
        types.first { $0.declaration.name == name }
    }

    public static func declaration(named name: String) -> LossTypeDeclaration? {
        type(named: name)?.declaration
    }
}
