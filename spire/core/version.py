"""The package version, recorded in every manifest spire writes."""

__version__ = "0.1.0"
