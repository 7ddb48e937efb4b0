//! The client mode's parsing of what it is given: the testee's command
//! line split like a shell's words, and the testee's output read a bounded
//! line at a time.

use dome_conformance::client::protocol;
use dome_conformance::client::testee::{read_bounded, split_command};
use tokio::io::BufReader;

#[test]
fn commands_split_on_whitespace_and_quotes() {
    assert_eq!(split_command("  a  b ").unwrap(), ["a", "b"]);
    assert_eq!(split_command("python3 'my testee.py' --x=\"1 2\"").unwrap(), ["python3", "my testee.py", "--x=1 2"]);
    assert_eq!(split_command("a ''").unwrap(), ["a", ""]);
    assert!(split_command("a 'b").unwrap_err().contains("unclosed quote"));
    assert!(split_command("   ").unwrap_err().contains("empty"));
}

#[tokio::test]
async fn lines_are_bounded() {
    let long = vec![b'x'; protocol::MAX_LINE + 1];
    let mut reader = BufReader::new(long.as_slice());
    let mut buf = Vec::new();
    let err = read_bounded(&mut reader, &mut buf).await.unwrap_err();
    assert!(err.to_string().contains("longer than"), "{err}");
    let mut reader = BufReader::new(&b"one\r\ntwo"[..]);
    assert_eq!(read_bounded(&mut reader, &mut buf).await.unwrap(), 5);
    assert_eq!(buf, b"one");
    assert_eq!(read_bounded(&mut reader, &mut buf).await.unwrap(), 3);
    assert_eq!(buf, b"two");
    assert_eq!(read_bounded(&mut reader, &mut buf).await.unwrap(), 0);
}
