import Foundation
import PackagePlugin

/// Gives the Batch target the text of the pipeline file the binary carries, so that
/// `batchrun` runs from any folder without a copy of pipelines/, and so that the
/// pipeline's names live in its YAML file only, never in an engine Swift file.
///
/// At build time EmbedText turns `pipelines/transactions.yaml` (the default pipeline, as
/// docs/PIPELINES.md says) into a Swift file of one string constant in the build
/// folder. The file is an input of the command: editing the YAML rebuilds the binary.
@main
struct EmbedPipelines: BuildToolPlugin {
    /// The pipeline that runs when --pipeline is not given, relative to the package.
    static let defaultPipeline = "pipelines/transactions.yaml"

    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let input = context.package.directoryURL.appending(path: Self.defaultPipeline)
        let output = context.pluginWorkDirectoryURL.appending(path: "DefaultPipelineText.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(Self.defaultPipeline)",
                executable: try context.tool(named: "EmbedText").url,
                arguments: [input.path, Self.defaultPipeline, output.path],
                inputFiles: [input],
                outputFiles: [output]
            )
        ]
    }
}
