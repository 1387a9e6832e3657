//! A line-based unified diff (`diff -u` output, 3 lines of context, `@@`
//! hunk headers) of two texts, by Myers' O(ND) shortest edit script.

/// What one step of the edit script does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Same,
    Del,
    Ins,
}

/// One step of the edit script at old line `x`, new line `y` (0-based, the
/// lines before the step on each side).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Op {
    step: Step,
    x: usize,
    y: usize,
}

/// Whether `bytes` are text to diff by lines: UTF-8 without a NUL byte.
pub fn is_text(bytes: &[u8]) -> bool {
    !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok()
}

/// The lines of `text`, each with its `\n` (the last one may lack it).
fn lines(text: &[u8]) -> Vec<&[u8]> {
    text.split_inclusive(|&b| b == b'\n').collect()
}

/// The shortest edit script from `a` to `b` (Myers 1986, forward search).
/// Each round's furthest points are kept for the walk back, only for the
/// diagonals that round can reach: memory O(D^2), time O((N + M) D).
fn edit_script(a: &[&[u8]], b: &[&[u8]]) -> Vec<Op> {
    let (n, m) = (a.len() as isize, b.len() as isize);
    let max = n + m;
    let off = max + 1;
    let mut v = vec![0isize; 2 * max as usize + 3];
    // trace[d]: v before round d, for diagonals -d..=d (index k + d).
    let mut trace: Vec<Vec<isize>> = Vec::new();
    'search: for d in 0..=max {
        trace.push(v[(off - d) as usize..=(off + d) as usize].to_vec());
        let mut k = -d;
        while k <= d {
            let i = (k + off) as usize;
            let mut x = if k == -d || (k != d && v[i - 1] < v[i + 1]) {
                v[i + 1]
            } else {
                v[i - 1] + 1
            };
            let mut y = x - k;
            while x < n && y < m && a[x as usize] == b[y as usize] {
                x += 1;
                y += 1;
            }
            v[i] = x;
            if x >= n && y >= m {
                break 'search;
            }
            k += 2;
        }
    }
    let mut ops = Vec::new();
    let (mut x, mut y) = (n, m);
    for d in (0..trace.len() as isize).rev() {
        let at = |k: isize| trace[d as usize][(k + d) as usize];
        let k = x - y;
        let prev_k = if k == -d || (k != d && at(k - 1) < at(k + 1)) {
            k + 1
        } else {
            k - 1
        };
        let (prev_x, prev_y) = if d == 0 {
            (0, 0)
        } else {
            (at(prev_k), at(prev_k) - prev_k)
        };
        while x > prev_x && y > prev_y {
            x -= 1;
            y -= 1;
            ops.push(op(Step::Same, x, y));
        }
        if d > 0 {
            if x == prev_x {
                y -= 1;
                ops.push(op(Step::Ins, x, y));
            } else {
                x -= 1;
                ops.push(op(Step::Del, x, y));
            }
        }
    }
    ops.reverse();
    ops
}

fn op(step: Step, x: isize, y: isize) -> Op {
    Op {
        step,
        x: x as usize,
        y: y as usize,
    }
}

/// Lines of context around each change.
const CONTEXT: usize = 3;

/// The hunks of a unified diff of `old` and `new` (no `---`/`+++` header),
/// empty when they are equal.
pub fn hunks(old: &[u8], new: &[u8]) -> Vec<u8> {
    let (a, b) = (lines(old), lines(new));
    let ops = edit_script(&a, &b);
    let mut out = Vec::new();
    let mut i = 0;
    while i < ops.len() {
        // Find the next change, then extend the hunk while the gap of equal
        // lines to the following change is at most 2 * CONTEXT.
        let Some(first) = ops[i..].iter().position(|o| o.step != Step::Same) else {
            break;
        };
        let first = i + first;
        let start = first.saturating_sub(CONTEXT).max(i);
        let mut end = first;
        loop {
            while end < ops.len() && ops[end].step != Step::Same {
                end += 1;
            }
            let same = ops[end..]
                .iter()
                .take_while(|o| o.step == Step::Same)
                .count();
            if end + same < ops.len() && same <= 2 * CONTEXT {
                end += same;
            } else {
                end = (end + same.min(CONTEXT)).min(ops.len());
                break;
            }
        }
        write_hunk(&mut out, &ops[start..end], &a, &b);
        i = end;
    }
    out
}

/// `start,count` as diff prints it: `start` alone for one line; for none,
/// the number of lines before the hunk.
fn range(before: usize, count: usize) -> String {
    match count {
        0 => format!("{before},0"),
        1 => format!("{}", before + 1),
        c => format!("{},{c}", before + 1),
    }
}

fn write_hunk(out: &mut Vec<u8>, ops: &[Op], a: &[&[u8]], b: &[&[u8]]) {
    let Some(first) = ops.first() else {
        return;
    };
    let count_a = ops.iter().filter(|o| o.step != Step::Ins).count();
    let count_b = ops.iter().filter(|o| o.step != Step::Del).count();
    out.extend_from_slice(
        format!(
            "@@ -{} +{} @@\n",
            range(first.x, count_a),
            range(first.y, count_b)
        )
        .as_bytes(),
    );
    for o in ops {
        let (mark, line) = match o.step {
            Step::Same => (b' ', a[o.x]),
            Step::Del => (b'-', a[o.x]),
            Step::Ins => (b'+', b[o.y]),
        };
        out.push(mark);
        out.extend_from_slice(line);
        if !line.ends_with(b"\n") {
            out.extend_from_slice(b"\n\\ No newline at end of file\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{hunks, is_text};

    fn diff(a: &str, b: &str) -> String {
        String::from_utf8(hunks(a.as_bytes(), b.as_bytes())).unwrap()
    }

    #[test]
    fn unified_hunks_match_diff_u() {
        let n15 = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n";
        // (what, old, new, the hunks `diff -u old new` prints)
        let cases: &[(&str, &str, &str, &str)] = &[
            ("equal", n15, n15, ""),
            ("one line changed", "a\nb\nc\n", "a\nB\nc\n", "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"),
            (
                "two hunks",
                n15,
                "1\n2\n3\n4\nX\n6\n7\n8\n9\n10\n11\n12\n13\nY\n15\n",
                "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+X\n 6\n 7\n 8\n@@ -11,5 +11,5 @@\n 11\n 12\n 13\n-14\n+Y\n 15\n",
            ),
            (
                "gap of 6 equal lines joins the hunks",
                "1\n2\n3\n4\n5\n6\n7\n8\n",
                "X\n2\n3\n4\n5\n6\n7\nY\n",
                "@@ -1,8 +1,8 @@\n-1\n+X\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+Y\n",
            ),
            (
                "appended",
                n15,
                "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n",
                "@@ -13,3 +13,4 @@\n 13\n 14\n 15\n+16\n",
            ),
            ("into an empty file", "", "x\n", "@@ -0,0 +1 @@\n+x\n"),
            ("emptied", "x\ny\n", "", "@@ -1,2 +0,0 @@\n-x\n-y\n"),
            ("first line removed", "a\nb\nc\n", "b\nc\n", "@@ -1,3 +1,2 @@\n-a\n b\n c\n"),
            (
                "no newline at the end",
                "a\nb",
                "a\nc",
                "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n",
            ),
            (
                "insertion after line 4, far from the start",
                "1\n2\n3\n4\n5\n6\n7\n8\n",
                "1\n2\n3\n4\nnew\n5\n6\n7\n8\n",
                "@@ -2,6 +2,7 @@\n 2\n 3\n 4\n+new\n 5\n 6\n 7\n",
            ),
        ];
        for (what, old, new, want) in cases {
            assert_eq!(diff(old, new), *want, "{what}");
        }
    }

    #[test]
    fn text_is_utf8_without_nul() {
        assert!(is_text(b"key: value\n"));
        assert!(!is_text(b"a\0b"));
        assert!(!is_text(&[0xff, 0xfe]));
    }
}
