"""What makes reruns cheap: content digests of files (with a stat cache, so an unchanged file is
not read again) and a content-addressed store of node outputs under `<workdir>/.pipec/cache/`."""
