"""The certificate renewal chapter: re-issue what expires (or every leaf), push it and restart what reads it, one
master at a time behind the health gate, while requests through the VIP keep being counted."""
