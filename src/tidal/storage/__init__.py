"""Model storage as KServe's storage initializer resolves `storageUri`: `file://`, `pvc://`,
`http(s)://` (a file or an archive) and `s3://`, fetched into a cache the pods share
(`~/.cache/tidal/storage`). `uri.py` is the pure part; `fetch.py` downloads;
`python -m tidal.storage` is the pod's init step. See docs/STORAGE.md."""
