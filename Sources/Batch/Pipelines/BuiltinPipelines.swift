/// The pipeline file the binary carries, so that it runs from any folder: the default
/// pipeline, used when --pipeline is not given. Its text, `defaultText`, and its path in
/// the repository, `defaultName`, are generated at build time from that YAML file by the
/// EmbedPipelines plugin (Sources/BuildTools), so no Swift file repeats its names.
public enum BuiltinPipelines {
    /// The default pipeline, loaded once (a test checks the text against the file).
    public static let defaultFile: PipelineFile = {
        do {
            return try PipelineLoader.load(text: defaultText, path: "<built-in \(defaultName)>")
        } catch {
            preconditionFailure("the built-in \(defaultName) does not load: \(error)")
        }
    }()

    /// The default pipeline, type-checked once.
    public static let defaultChecked: CheckedPipeline = {
        do {
            return try TypeChecker.check(defaultFile)
        } catch {
            preconditionFailure("the built-in \(defaultName) does not type-check: \(error)")
        }
    }()
}

extension PipelineLoader {
    /// The pipeline at `path`, or the default pipeline when `path` is nil,
    /// loaded and type-checked.
    public static func checked(path: String?) throws -> CheckedPipeline {
        let file = try path.map { try load(path: $0) } ?? BuiltinPipelines.defaultFile
        return try TypeChecker.check(file)
    }
}
