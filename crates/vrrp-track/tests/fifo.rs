//! The notify FIFO: keepalived's lines, in order, to a reader; the FIFO reader script.

mod common;

use std::io::BufRead as _;
use std::sync::mpsc;
use std::time::Duration;

use common::{TempDir, sh, wait_until_async};
use vrrp_track::fifo::{FifoScript, FifoState, NotifyFifo};
use vrrp_track::notify::{NotifyState, Scope};

#[tokio::test]
async fn lines_arrive_in_order() {
    let dir = TempDir::new("fifo");
    let path = dir.join("notify.fifo");
    let fifo = NotifyFifo::open(&path, None).expect("open fifo");
    use std::os::unix::fs::FileTypeExt as _;
    assert!(
        std::fs::metadata(&path)
            .expect("stat")
            .file_type()
            .is_fifo()
    );

    // Lines written before any reader wait in the pipe.
    fifo.state(
        Scope::Instance,
        "VI_1",
        FifoState::State(NotifyState::Backup),
        100,
    );
    assert!(fifo.flush(Duration::from_secs(2)).await);

    let (tx, rx) = mpsc::channel::<String>();
    let reader_path = path.clone();
    std::thread::spawn(move || {
        let Ok(f) = std::fs::File::open(&reader_path) else {
            return;
        };
        for line in std::io::BufReader::new(f).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });

    let mut expected = vec!["INSTANCE \"VI_1\" BACKUP 100".to_string()];
    let states = [NotifyState::Master, NotifyState::Backup, NotifyState::Fault];
    for i in 0..300u32 {
        let state = states[(i % 3) as usize];
        let prio = u8::try_from(i % 250).expect("u8");
        if i % 10 == 0 {
            let addr = format!("10.99.0.{}", i % 250).parse().expect("ip");
            fifo.master_change("VI_1", Some(addr), prio);
            expected.push(format!(
                "INSTANCE \"VI_1\" MASTER_CHANGE 10.99.0.{} {prio}",
                i % 250
            ));
        } else if i % 7 == 0 {
            fifo.state(Scope::Group, "G1", FifoState::State(state), prio);
            expected.push(format!("GROUP \"G1\" {state} 0"));
        } else {
            fifo.state(Scope::Instance, "VI_1", FifoState::State(state), prio);
            expected.push(format!("INSTANCE \"VI_1\" {state} {prio}"));
        }
    }
    fifo.master_change("VI_1", None, 0);
    expected.push("INSTANCE \"VI_1\" MASTER_CHANGE none 0".to_string());
    fifo.state(Scope::Instance, "VI_1", FifoState::MasterRxLowerPri, 100);
    expected.push("INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100".to_string());

    // The reader is a plain thread: poll its channel without blocking the runtime.
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while got.len() < expected.len() && std::time::Instant::now() < deadline {
        match rx.try_recv() {
            Ok(l) => got.push(l),
            Err(mpsc::TryRecvError::Empty) => tokio::time::sleep(Duration::from_millis(2)).await,
            Err(mpsc::TryRecvError::Disconnected) => break,
        }
    }
    assert_eq!(got, expected);
    assert_eq!(fifo.dropped(), 0);
}

#[tokio::test]
async fn an_existing_non_fifo_is_refused() {
    let dir = TempDir::new("notfifo");
    let path = dir.join("file");
    std::fs::write(&path, "x").expect("write");
    let err = NotifyFifo::open(&path, None).err().expect("refused");
    assert!(err.to_string().contains("not a FIFO"), "{err}");
}

#[tokio::test]
async fn fifo_script_reads_the_fifo() {
    let dir = TempDir::new("fifoscript");
    let path = dir.join("notify.fifo");
    let out = dir.join("seen");
    let fifo = NotifyFifo::open(&path, None).expect("open fifo");
    // The FIFO path is appended as the script's last argument ($1 here).
    let script = FifoScript::start(
        sh(&format!("exec cat \"$1\" > {}", out.display()))
            .into_iter()
            .chain(["sh".to_string()])
            .collect(),
        None,
        &path,
    );
    fifo.state(
        Scope::Instance,
        "VI_1",
        FifoState::State(NotifyState::Master),
        100,
    );
    fifo.state(
        Scope::Group,
        "G1",
        FifoState::State(NotifyState::Master),
        100,
    );
    let want = "INSTANCE \"VI_1\" MASTER 100\nGROUP \"G1\" MASTER 0\n";
    assert!(
        wait_until_async(Duration::from_secs(5), || {
            std::fs::read_to_string(&out).is_ok_and(|s| s == want)
        })
        .await,
        "reader saw {:?}",
        std::fs::read_to_string(&out)
    );
    tokio::time::timeout(Duration::from_secs(5), script.stop())
        .await
        .expect("reader stopped");
}
