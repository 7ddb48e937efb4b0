//! The bench's hostile clients: a server's refusal to start is read as the
//! innermost cause it printed, never a line of a backtrace.

use xtask::bench::hostile::refusal;

#[test]
fn a_refusal_is_the_innermost_cause_not_a_backtrace_frame() {
    let with_trace = "Error: starting domed\n\nCaused by:\n    the bearer token is empty: give a token\n\n\
                      Stack backtrace:\n   0: anyhow::error::<impl anyhow::Error>::msg\n  29: _start\n";
    assert_eq!(refusal(with_trace), "the bearer token is empty: give a token");
    let without = "Error: starting domed\n\nCaused by:\n    the bearer token is empty\n";
    assert_eq!(refusal(without), "the bearer token is empty");
    assert_eq!(refusal(""), "");
}
