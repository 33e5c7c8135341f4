"""ckanext-harvest harvesters of the SINP platform (package ``ckanext.sinp_harvesters``):
``sinp_mtd`` (INPN MTD) and ``sinp_csw`` (partner CSW catalogues). See README.md."""
