import Foundation

/// libtorch's OpenMP threads spin between parallel regions unless `OMP_WAIT_POLICY=PASSIVE`;
/// on a machine with few cores the spinning threads starve the data loader's threads (a tiny
/// training pass measured 3–8× slower). libgomp reads the variable when libtorch is loaded,
/// before `main` runs, so when it is unset the process starts itself again with it set.
/// Setting the variable (to any value) keeps the user's choice.
enum OpenMPPolicy {
    static let variable = "OMP_WAIT_POLICY"

    static func ensurePassive() {
        guard ProcessInfo.processInfo.environment[variable] == nil else { return }
        setenv(variable, "PASSIVE", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Only reached when exec failed: carry on with libgomp's default.
    }
}
