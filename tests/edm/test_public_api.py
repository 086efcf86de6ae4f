import metflow.edm as edm
from metflow.edm import containers, errors, keys, links, met, persistence


def test_all_names_exist_and_are_public():
    for module in (edm, containers, errors, keys, links, met, persistence):
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
        assert len(set(module.__all__)) == len(module.__all__)


def test_package_exports_main_classes():
    for name in ("Container", "ListColumn", "EventRecord", "schema_for", "MissingET", "MissingETContainer",
                 "MissingETAssociationMap", "MissingETAssociation", "MissingETAssociationHelper",
                 "MissingETBase", "ObjectType", "UsagePolicy", "SchemaError", "LinkError",
                 "CorruptInputError", "TooManyObjectsError"):
        assert name in edm.__all__


def test_inspect_cli_contract():
    import argparse
    from metflow.edm import inspect
    parser = argparse.ArgumentParser()
    inspect.add_arguments(parser)
    args = parser.parse_args(["x.parquet"])
    assert args.file == "x.parquet"
    assert callable(inspect.run)
