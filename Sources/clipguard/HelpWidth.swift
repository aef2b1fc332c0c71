import Foundation

/// Help text is wrapped to the terminal it is printed to (ArgumentParser reads its width); off a
/// terminal (piped into a file, `less` or `grep`) it is not wrapped at all, so no example command
/// is cut mid-line. An explicit `COLUMNS` keeps the user's choice.
enum HelpWidth {
    /// The width used when standard output is not a terminal: wide enough never to wrap.
    static let unwrapped = 10_000

    static func configure() {
        guard ProcessInfo.processInfo.environment["COLUMNS"] == nil, isatty(STDOUT_FILENO) == 0 else { return }
        setenv("COLUMNS", String(unwrapped), 1)
    }
}
