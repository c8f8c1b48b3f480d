"""Data: validated image reading, data set loaders, the distortion library, generated
benchmarks and the photos they are made from."""
