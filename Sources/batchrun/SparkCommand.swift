import ArgumentParser
import Batch

struct SparkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spark",
        abstract: "Write a pipeline as a PySpark job that builds the same tables on a Spark cluster.",
        usage: "batchrun spark [FILE] --out DIR [--json] [-q]",
        discussion: """
        Writes DIR/<pipeline>_job.py and, beside it, a README.md of how to run it. The job takes --raw RAW --out OUT \
        [--format parquet|delta] and runs with spark-submit or plain python against local \
        folders, HDFS or S3, writing each table of the lake to OUT/<table>. Without FILE, the \
        built-in transactions pipeline. README.md "When you outgrow one machine" says what is \
        equal and how it is checked (make spark-check).
        """
    )

    @Argument(help: "The pipeline file (YAML).")
    var file: String?

    @Option(help: "The folder to write the job and its README into (made if missing).")
    var out: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors {
            let pipeline = try PipelineLoader.checked(path: file)
            let (job, readme) = try SparkJob.write(pipeline, to: out)
            if output.json {
                print(JSON.object([("pipeline", .string(pipeline.file.name)), ("job", .string(job)), ("readme", .string(readme))]).rendered())
            } else if !output.quiet {
                printErr("wrote \(job) and \(readme)\nrun it: spark-submit \(job) --raw RAW --out OUT")
            }
        }
    }
}
