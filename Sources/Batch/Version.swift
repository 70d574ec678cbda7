/// batchrun's version: `batchrun --version`, and what files it writes say made them.
public enum BatchrunVersion {
    public static let current = "0.5.0"
}
