import Foundation
import Segments
import Spill
import Testing
@testable import Batch

/// pipelines/sensors.yaml, a second pipeline on the same engine, over the hand-written
/// landing zone Tests/Pipelines/sensors: a composite dedup key keeping the earliest copy
/// (ties to the last ingested), float64 and int32 columns, a lookup through a reference
/// to another, an optional column one file lacks, silver partitioned by the date of its
/// second timestamp, and gold's min, max, avg and filtered counts. Every table below was
/// worked out by hand from the zone's files.
@Suite struct SensorsPipelineTests {
    static let zone = repositoryRoot + "/Tests/Pipelines/sensors"
    static let ingestedAt = "2025-06-15T16:53:20Z" // 1_750_006_400_000_000, fixed below

    static let expected: [String: String] = [
        "silver": """
        device_id,sequence,recorded_at,received_at,temperature,humidity,battery,site_id,region,received_date
        D-1,1,2025-01-31T23:59:00Z,2025-01-31T23:59:30Z,21.5,40,3.70,1,north,2025-01-31
        D-1,2,2025-01-31T23:59:50Z,2025-02-01T00:00:10Z,21.25,41,3.20,1,north,2025-02-01
        D-2,1,2025-02-01T08:00:00Z,2025-02-01T08:00:01Z,-5.0,90,3.10,1,north,2025-02-01
        D-3,7,2025-02-01T09:00:00Z,2025-02-01T09:00:00Z,31.0,60,,2,east,2025-02-01
        D-4,1,2025-02-02T10:00:00Z,2025-02-02T10:00:02Z,10.0,10,3.30,9,unknown,2025-02-02
        D-2,2,2025-02-02T12:00:00Z,2025-02-02T12:00:00Z,12.5,70,,1,north,2025-02-02

        """,
        "quarantine": """
        device_id,sequence,recorded_at,received_at,temperature,humidity,battery,_source_file,_source_line,_ingest_seq,_ingested_at,_rescued,reason
        ,5,2025-02-01T09:00:00Z,2025-02-01T09:00:01Z,1.0,1,3.00,readings/2025/a.csv,8,1,\(ingestedAt),,missing_key
        D-3,8,2025-02-01T09:00:10Z,2025-02-01T09:00:00Z,30.0,55,4.00,readings/2025/a.csv,9,1,\(ingestedAt),,bad_time
        D-3,9,2025-02-01T09:00:00Z,2025-02-01T09:00:20Z,95.0,55,4.00,readings/2025/a.csv,10,1,\(ingestedAt),,bad_reading
        D-3,10,2025-02-01T09:00:00Z,2025-02-01T09:00:20Z,20.0,55,5.50,readings/2025/a.csv,11,1,\(ingestedAt),,bad_battery
        X-9,1,2025-02-01T09:00:00Z,2025-02-01T09:00:20Z,20.0,55,4.00,readings/2025/a.csv,12,1,\(ingestedAt),,unknown_device
        ,,,,,,,readings/2025/a.csv,13,1,\(ingestedAt),"D-3,11,2025-02-01T09:00:00Z,2025-02-01T09:00:20Z,20,55",malformed_row

        """,
        "dim_site": """
        site_id,site_name,region
        1,North Farm,north
        2,"River, East",east

        """,
        "dim_day": """
        day_key,date,weekday
        20250131,2025-01-31,5
        20250201,2025-02-01,6
        20250202,2025-02-02,7

        """,
        "readings_by_month": """
        device_id,sequence,received_at,temperature,humidity,region
        D-1,1,2025-01-31T23:59:30Z,21.5,40,north
        D-1,2,2025-02-01T00:00:10Z,21.25,41,north
        D-2,1,2025-02-01T08:00:01Z,-5.0,90,north
        D-3,7,2025-02-01T09:00:00Z,31.0,60,east
        D-4,1,2025-02-02T10:00:02Z,10.0,10,unknown
        D-2,2,2025-02-02T12:00:00Z,12.5,70,north

        """,
        "site_daily": """
        site_id,site_name,day,readings,min_humidity,max_humidity,avg_battery,low_battery,received_next_day,max_temperature,avg_humidity
        1,North Farm,2025-01-31,1,40,40,3.700000,0,0,21.5,40.000000
        1,North Farm,2025-02-01,2,41,90,3.150000,2,1,21.25,65.500000
        1,North Farm,2025-02-02,1,70,70,,0,0,12.5,70.000000
        2,"River, East",2025-02-01,1,60,60,,0,0,31.0,60.000000
        9,,2025-02-02,1,10,10,3.300000,0,0,10.0,10.000000

        """,
    ]

    /// Roomy, and at 16MiB with 2-row batches on one thread: the same tables.
    @Test(arguments: [(256 << 20, 65_536, 2), (16 << 20, 2, 1)])
    func tablesAreTheHandWorkedOnes(_ budget: Int, _ batchRows: Int, _ threads: Int) throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let lake = s.path + "/lake"
        var o = Pipeline.Options(raw: Self.zone, lake: lake)
        o.pipeline = try PipelineLoader.checked(path: repositoryRoot + "/pipelines/sensors.yaml")
        o.limits.threads = threads
        o.ingest.ingestedAt = 1_750_006_400_000_000
        o.limits.batchRows = batchRows
        let report = try withEngine("sensors", budget: budget) { try Pipeline(options: o, budget: $0, spill: $1).run() }
        #expect(report.silver?.duplicatesRemoved == 2 && report.silver?.quarantinedTotal == 6 && report.silver?.bronzeRows == 14)
        #expect(report.gold?.partitions == 2 && report.gold?.sorted == [])
        for (table, text) in Self.expected {
            #expect(try exported(try Lake.tablePath(lake: lake, name: table), in: s, as: table) == text, "\(table)")
        }
        // The lake keeps its pipeline: verify knows its tables, and a second run without
        // the file changes nothing.
        #expect(SystemIO.exists(Lake.pipelinePath(lake: lake)))
        #expect(try Verify.run(lake: lake).isSound)
        var again = o
        again.pipeline = try Lake.pipeline(lake: lake)
        let second = try withEngine("sensors-again", budget: budget) { try Pipeline(options: again, budget: $0, spill: $1).run() }
        #expect(second.silver == nil && second.gold == nil, "a second run rebuilt: \(second.reasons)")
    }

    /// Aggregates that take the same rows share one tally, and a sum, min or max over
    /// no value is null: counts, sums, an average, a min and a max of the nullable
    /// battery, with and without a filter, beside a sum of never-null humidity, worked
    /// out by hand from silver above. (east's one reading has no battery; unknown's is
    /// not warm.)
    @Test(arguments: [(256 << 20, 65_536, 2), (16 << 20, 2, 1)])
    func aggregatesOverNullsAndFilters(_ budget: Int, _ batchRows: Int, _ threads: Int) throws {
        let s = Scratch()
        defer { s.cleanUp() }
        let text = try String(contentsOfFile: repositoryRoot + "/pipelines/sensors.yaml", encoding: .utf8) + """

          - name: battery_by_region
            from: silver
            group_by: [region]
            measures:
              - readings: count(*)
              - with_battery: count(battery)
              - battery_sum: sum(battery)
              - warm_battery: sum(battery) filter (where temperature > 20)
              - warm: count(*) filter (where temperature > 20)
              - warm_battery_readings: count(battery) filter (where temperature > 20)
              - warm_avg: avg(battery) filter (where temperature > 20)
              - low: min(battery)
              - high: max(battery) filter (where temperature > 20)
              - humidity_total: sum(humidity)
            order: [region]

        """
        let lake = s.path + "/lake"
        var o = Pipeline.Options(raw: Self.zone, lake: lake)
        o.pipeline = try TypeChecker.check(try PipelineLoader.load(text: text, path: "sensors-extra.yaml"))
        o.limits.threads = threads
        o.limits.batchRows = batchRows
        _ = try withEngine("sensors-aggregates", budget: budget) { try Pipeline(options: o, budget: $0, spill: $1).run() }
        #expect(try exported(try Lake.tablePath(lake: lake, name: "battery_by_region"), in: s, as: "battery_by_region") == """
            region,readings,with_battery,battery_sum,warm_battery,warm,warm_battery_readings,warm_avg,low,high,humidity_total
            east,1,0,,,1,0,,,,60
            north,4,3,10.00,6.90,2,2,3.450000,3.10,3.70,241
            unknown,1,1,3.30,,0,0,,3.30,,10

            """)
    }
}
