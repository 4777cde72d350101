//! Options shared by the parser and the printers.

/// How a listing (`-L`, `-S`, `-c`) is shown. Built by the parser from
/// `-n`, `-c`, `--timeout`, `--daemon`, `--stats`, `--rate`,
/// `--thresholds`, `--persistent-conn`, `--tun-info`, `--nosort`,
/// `--exact` and `--json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `-n`: no name resolution.
    pub numeric: bool,
    /// `-c`: connection entries.
    pub connection: bool,
    /// `--timeout`.
    pub timeout: bool,
    /// `--daemon`.
    pub daemon: bool,
    /// `--stats`.
    pub stats: bool,
    /// `--rate`.
    pub rate: bool,
    /// `--thresholds`.
    pub thresholds: bool,
    /// `--persistent-conn`.
    pub persistent_conn: bool,
    /// `--tun-info`.
    pub tun_info: bool,
    /// `--nosort`.
    pub nosort: bool,
    /// `--exact` / `-X`.
    pub exact: bool,
    /// `--json`: a JSON document (`docs/json.md`) instead of the table.
    pub json: bool,
}
