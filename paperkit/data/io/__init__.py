"""File readers and caches: any volume or image format into one :class:`~paperkit.data.io.readers.Volume`,
decoded once and memory-mapped after (:class:`~paperkit.data.io.cache.VolumeCache`), and the data errors."""
