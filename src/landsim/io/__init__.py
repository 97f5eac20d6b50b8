"""Raster, NetCDF, CSV and JSON input and output (rasterio, xarray)."""
