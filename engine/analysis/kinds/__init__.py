"""One module per analysis, each registering itself (`engine.analysis.registry`); every module
here is imported on the registry's first look-up, so adding an analysis is adding a file."""
