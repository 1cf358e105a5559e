//! Repeat expansion: repeats, endings, D.C./D.S., segno, coda and fine, played out in order.
