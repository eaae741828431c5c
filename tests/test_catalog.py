"""The catalog reader: real catalogs read cleanly, broken rows cost only themselves.

The real catalogs come from the shared data directory next to the repository; every broken
catalog is written to ``tmp_path``. Errors carry their problem as data (the CLI's fix-it
hints are tested in test_cli.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support import FASHION, GROCERY
from visearch.ingest.catalog import (
    CatalogError,
    CatalogRead,
    load_mapping_file,
    read_catalog,
    safe_field_name,
)
from visearch.ingest.records import RowError
from visearch.mappings.fields import INTERNAL_FIELDS, RESERVED_FIELDS, STANDARD_ATTRIBUTES

FASHION_CATALOG = FASHION / "catalog.csv"
GROCERY_GALLERY = GROCERY / "gallery.csv"


def _write(tmp_path: Path, name: str, text: str, *, bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _by_sku(read: CatalogRead) -> dict:
    return {product.sku: product for product in read.products}


def _errors_by_line(read: CatalogRead) -> dict[int | None, RowError]:
    lines = [error.line for error in read.errors]
    assert len(lines) == len(set(lines)), read.errors
    return {error.line: error for error in read.errors}


# --- real catalogs ---------------------------------------------------------------------------


def test_fashion_catalog_reads_cleanly():
    read = read_catalog(FASHION_CATALOG)

    assert len(read.products) == 9261
    assert read.errors == []
    assert read.rows == 9261
    assert len(read.seen_skus) == 9261
    assert read.extra_attributes == ()  # brand_guess became brand, not an extra attribute
    first, last = read.products[0], read.products[-1]
    assert (first.sku, first.image, first.line) == ("10000", "images/10000.jpg", 2)
    assert last.line == 9262
    assert all(isinstance(product.sku, str) for product in read.products)

    nike = _by_sku(read)["10003"]
    assert nike.attributes["brand"] == "Nike"
    assert nike.title == "Nike Women As Nike Eleme White T-Shirt"
    assert nike.attributes == {
        "brand": "Nike",
        "category": "Apparel",
        "subcategory": "Topwear",
        "article_type": "Tshirts",
        "colour": "White",
        "colour_group": "White",
        "gender": "Women",
        "season": "Fall",
        "usage": "Sports",
    }
    assert "brand_guess" not in {name for p in read.products for name in p.attributes}


def test_grocery_gallery_reads_description_and_extra_attributes():
    read = read_catalog(GROCERY_GALLERY)

    assert len(read.products) == 81
    assert read.errors == []
    assert read.extra_attributes == ("class_id", "coarse_id")
    apple = read.products[0]
    assert apple.sku == "Golden-Delicious"
    assert apple.image == "gallery/Golden-Delicious.jpg"
    assert apple.description.startswith("Golden Delicious has a white juicy pulp")
    assert apple.attributes == {
        "category": "Fruit",
        "subcategory": "Apple",
        "class_id": "0",
        "coarse_id": "0",
    }
    assert all(product.description for product in read.products)


# --- a messy CSV -----------------------------------------------------------------------------

MESSY_CSV = (
    "sku,image,title,baseColour,price,in_stock,Material Type,brand_guess\n"  # 1
    "A1,img/a1.jpg,Plain shirt,Red,19.99,yes,Cotton,Acme\n"  # 2
    "A2,img/a2.jpg,,Blue,,In Stock,,\n"  # 3
    "A3,img/a3.jpg,Ünïcødé ☂ jacket,Green,5,0,Wool,Zed\n"  # 4
    "A4,img/a4.jpg,Too many,Red,1,yes,Silk,Acme,EXTRA\n"  # 5
    "A1,img/dup.jpg,Duplicate,Red,1,yes,,\n"  # 6
    ",img/x.jpg,No sku,Red,1,yes,,\n"  # 7
    "A5,,No image,Red,1,yes,,\n"  # 8
    "A6,img/a6.jpg,Bad price,Red,abc,yes,,\n"  # 9
    "A7,img/a7.jpg,Bad stock,Red,1,maybe,,\n"  # 10
    "\n"  # 11
    'A8,img/a8.jpg,"Multi\n'  # 12
    'line title",Red,2,out of stock,,\n'  # 13
    'A9,"img/a9.jpg,Unclosed,Red,1,yes,,\n'  # 14
    " A10 , img/a10.jpg ,After,Red,3,no,Linen,Acme\n"  # 15
    "A11,https://cdn.example.com/a11.jpg,Negative,Red,-1,yes,,\n"  # 16
)


@pytest.fixture
def messy(tmp_path: Path) -> CatalogRead:
    path = _write(tmp_path, "messy.csv", MESSY_CSV, bom=True)
    return read_catalog(path, mapping={"colour": "baseColour"})


def test_messy_csv_keeps_good_rows_in_order(messy: CatalogRead):
    assert [p.sku for p in messy.products] == ["A1", "A2", "A3", "A8", "A10"]
    assert [p.line for p in messy.products] == [2, 3, 4, 12, 15]
    assert messy.rows == 13
    assert messy.extra_attributes == ("material_type",)

    a1, a2, a3, a8, a10 = messy.products
    assert (a1.title, a1.price, a1.in_stock) == ("Plain shirt", 19.99, True)
    assert a1.attributes == {"colour": "Red", "material_type": "Cotton", "brand": "Acme"}
    assert a1.image == "img/a1.jpg"
    assert (a2.title, a2.price, a2.in_stock) == ("", None, True)
    assert a2.attributes == {"colour": "Blue"}  # blank values are omitted
    assert (a3.title, a3.price, a3.in_stock) == ("Ünïcødé ☂ jacket", 5.0, False)
    assert a3.attributes["brand"] == "Zed"
    assert (a8.title, a8.in_stock) == ("Multi\nline title", False)
    assert (a10.sku, a10.image, a10.in_stock) == ("A10", "img/a10.jpg", False)
    assert a10.attributes["material_type"] == "Linen"
    assert "basecolour" not in a1.attributes  # a mapping source is not an extra attribute


def test_messy_csv_reports_each_broken_row(messy: CatalogRead):
    errors = _errors_by_line(messy)
    assert sorted(errors) == [5, 6, 7, 8, 9, 10, 14, 16]

    assert (errors[5].stage, errors[5].sku) == ("read", "A4")
    assert "9 fields where the header has 8" in errors[5].reason
    assert (errors[6].stage, errors[6].sku) == ("validate", "A1")
    assert errors[6].reason == "duplicate sku, first seen on line 2"
    assert (errors[7].sku, errors[7].reason) == (None, "missing sku")
    assert (errors[8].sku, errors[8].reason) == ("A5", "missing image")
    assert (errors[9].sku, errors[9].reason) == ("A6", "price 'abc' is not a number")
    assert errors[10].sku == "A7"
    assert errors[10].reason.startswith("in_stock 'maybe' is not one of")
    assert (errors[14].stage, errors[14].sku) == ("read", "A9")
    assert "malformed CSV" in errors[14].reason
    assert (errors[16].sku, errors[16].reason) == ("A11", "price '-1' is negative")
    assert {e.stage for line, e in errors.items() if line not in (5, 14)} == {"validate"}


def test_messy_csv_sees_skus_of_broken_rows(messy: CatalogRead):
    good = {product.sku for product in messy.products}
    assert good <= messy.seen_skus
    assert {"A4", "A5", "A6", "A7", "A9", "A11"} <= messy.seen_skus  # broken rows still count
    assert messy.seen_skus == {f"A{n}" for n in range(1, 12)}


def test_first_duplicate_wins_even_when_later_rows_differ(tmp_path: Path):
    path = _write(tmp_path, "dups.csv", "sku,image,title\n7,a.jpg,First\n7,b.jpg,Second\n")
    read = read_catalog(path)
    assert [(p.sku, p.title) for p in read.products] == [("7", "First")]
    assert read.errors == [RowError("7", "validate", "duplicate sku, first seen on line 2", 3)]


def test_quote_closed_on_a_later_line_costs_only_its_first_line(tmp_path: Path):
    text = 'sku,image,title\nB1,"img/b1.jpg,Open\nB2,img/b2.jpg,Fine\nB3,img/b3.jpg,Also fine\n'
    read = read_catalog(_write(tmp_path, "swallow.csv", text))
    assert [(p.sku, p.line) for p in read.products] == [("B2", 3), ("B3", 4)]
    [error] = read.errors
    assert (error.line, error.stage, error.sku) == (2, "read", "B1")
    assert read.seen_skus == {"B1", "B2", "B3"}


def test_multiple_problems_on_one_row_are_all_named(tmp_path: Path):
    text = "sku,image,price,popularity,in_stock\nZ1,,nan,-2,perhaps\n"
    [error] = read_catalog(_write(tmp_path, "many.csv", text)).errors
    assert error.line == 2
    for part in (
        "missing image",
        "price 'nan' is not a finite number",
        "popularity '-2' is negative",
        "in_stock 'perhaps'",
    ):
        assert part in error.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("YES", True),
        ("1", True),
        ("In Stock", True),
        ("in_stock", True),
        ("False", False),
        ("no", False),
        ("0", False),
        ("OUT OF STOCK", False),
        ("", None),
    ],
)
def test_in_stock_words(tmp_path: Path, text: str, expected: bool | None):
    read = read_catalog(_write(tmp_path, "s.csv", f"sku,image,in_stock\nS,s.jpg,{text}\n"))
    assert read.products[0].in_stock is expected


def test_columns_match_by_safe_name_and_odd_names_are_made_safe(tmp_path: Path):
    text = "SKU,Image,Colour Group,2nd Colour,vector_key,Photos,Größe\nq,q.jpg,Red,Blue,v,i,XL\n"
    read = read_catalog(_write(tmp_path, "odd.csv", text))
    [product] = read.products
    assert (product.sku, product.image) == ("q", "q.jpg")
    assert read.extra_attributes == ("attr_2nd_colour", "attr_vector_key", "attr_photos", "groe")
    assert product.attributes == {
        "colour_group": "Red",
        "attr_2nd_colour": "Blue",
        "attr_vector_key": "v",
        "attr_photos": "i",
        "groe": "XL",
    }


def test_several_photos_per_product(tmp_path: Path):
    text = (
        "sku,image,images,image_3,image_2,colour\n"
        "a,a1.jpg,a2.jpg| a4.jpg |a1.jpg,a3.jpg,a2.jpg,Red\n"
        "b,b1.jpg,,,,Blue\n"
    )
    read = read_catalog(_write(tmp_path, "multi.csv", text))
    a, b = read.products
    assert a.images == ("a1.jpg", "a2.jpg", "a4.jpg", "a3.jpg")  # main first, no repeats
    assert b.images == ("b1.jpg",)
    assert a.attributes == {"colour": "Red"}
    assert read.extra_attributes == ()


def test_tab_separated_and_explicit_format(tmp_path: Path):
    tsv = read_catalog(_write(tmp_path, "feed.tsv", "sku\timage\ttitle\nt1\tt1.jpg\tA, B\n"))
    assert [(p.sku, p.title) for p in tsv.products] == [("t1", "A, B")]
    txt = read_catalog(_write(tmp_path, "feed.txt", "sku,image\nc1,c1.jpg\n"), fmt="csv")
    assert [p.sku for p in txt.products] == ["c1"]


def test_mapping_renames_core_fields_and_ignores_the_replaced_column(tmp_path: Path):
    text = "id,picture,sku,colour,baseColour\n1,p1.jpg,old-1,grey,Navy\n"
    path = _write(tmp_path, "m.csv", text)
    read = read_catalog(path, mapping={"sku": "id", "image": "picture", "colour": "baseColour"})
    [product] = read.products
    assert (product.sku, product.image, product.attributes) == ("1", "p1.jpg", {"colour": "Navy"})
    assert read.extra_attributes == ()


# --- JSONL -----------------------------------------------------------------------------------

JSONL = "\n".join(
    [
        json.dumps(
            {
                "sku": 100,
                "image": "i/100.jpg",
                "title": "Int sku",
                "price": 12.5,
                "in_stock": True,
                "attributes": {"colour": "Red", "Fabric Weight": "200gsm"},
            }
        ),  # 1
        "   ",  # 2
        json.dumps(
            {
                "sku": "101",
                "image": "http://example.com/101.jpg",
                "colour": "Blue",
                "attributes": {"colour": "ignored"},
                "popularity": "7",
            }
        ),  # 3
        '{"sku": "102", "image": "i/102.jpg", "title": "broken"',  # 4
        '["not", "an", "object"]',  # 5
        json.dumps({"sku": "103", "image": "i/103.jpg", "price": "abc", "brand": None}),  # 6
        json.dumps({"sku": "104", "image": "i/104.jpg", "attributes": {"sizes": ["S", "M"]}}),  # 7
    ]
)


def test_jsonl_reads_nested_attributes_and_reports_bad_lines(tmp_path: Path):
    read = read_catalog(_write(tmp_path, "catalog.jsonl", JSONL + "\n"))

    assert [(p.sku, p.line) for p in read.products] == [("100", 1), ("101", 3)]
    first, second = read.products
    assert (first.price, first.in_stock, first.title) == (12.5, True, "Int sku")
    assert first.attributes == {"colour": "Red", "fabric_weight": "200gsm"}
    assert second.attributes == {"colour": "Blue"}  # a top-level key beats the nested one
    assert (second.image, second.popularity) == ("http://example.com/101.jpg", 7.0)
    assert read.rows == 6
    assert read.extra_attributes == ("fabric_weight", "sizes")

    errors = _errors_by_line(read)
    assert sorted(errors) == [4, 5, 6, 7]
    assert (errors[4].stage, errors[4].sku) == ("read", "102")
    assert "invalid JSON" in errors[4].reason
    assert (errors[5].stage, errors[5].sku) == ("read", None)
    assert "not an object" in errors[5].reason
    assert (errors[6].stage, errors[6].reason) == ("validate", "price 'abc' is not a number")
    assert (errors[7].stage, errors[7].sku) == ("validate", "104")
    assert "sizes is a JSON list" in errors[7].reason
    assert read.seen_skus == {"100", "101", "102", "103", "104"}


def test_ndjson_extension_and_mapping(tmp_path: Path):
    text = '{"id": "n1", "img": "n1.jpg", "baseColour": "Teal", "brand_guess": "Acme"}\n'
    read = read_catalog(
        _write(tmp_path, "feed.ndjson", text),
        mapping={"sku": "id", "image": "img", "colour": "baseColour"},
    )
    [product] = read.products
    assert (product.sku, product.image) == ("n1", "n1.jpg")
    assert product.attributes == {"colour": "Teal", "brand": "Acme"}
    assert read.extra_attributes == ()


# --- mappings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"": "baseColour"}, "not a usable field name"),
        ({"colour": ""}, "no column given for field 'colour'"),
        ({"Colour": "x"}, "'Colour' is not a usable field name"),
        ({"vector_key": "x"}, "'vector_key' is not a usable field name"),
    ],
)
def test_unusable_mappings(tmp_path: Path, mapping: dict[str, str], message: str):
    path = _write(tmp_path, "c.csv", "sku,image,x,baseColour\n1,a.jpg,b,c\n")
    with pytest.raises(CatalogError, match=message) as raised:
        read_catalog(path, mapping=mapping)
    assert raised.value.problem in ("bad_field_name", "bad_mapping")


def test_load_mapping_file(tmp_path: Path):
    path = tmp_path / "map.json"
    path.write_text(json.dumps({"colour": "baseColour", "brand": "brand_guess"}))
    assert load_mapping_file(path) == {"colour": "baseColour", "brand": "brand_guess"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('["colour"]', "must hold a JSON object"),
        ('{"colour": 3}', "must name a column"),
        ("{colour: x}", "not valid JSON"),
        ('{"Colour Name": "x"}', "not a usable field name"),
        (None, "mapping file not found"),
    ],
)
def test_load_mapping_file_errors(tmp_path: Path, content: str | None, message: str):
    path = tmp_path / "map.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CatalogError, match=message):
        load_mapping_file(path)


# --- catalogs that cannot be used at all -----------------------------------------------------


def test_missing_file(tmp_path: Path):
    with pytest.raises(CatalogError, match="catalog not found: .*nope.csv"):
        read_catalog(tmp_path / "nope.csv")


def test_unknown_extension(tmp_path: Path):
    path = _write(tmp_path, "catalog.xlsx", "sku,image\n1,a.jpg\n")
    with pytest.raises(CatalogError, match=r"cannot tell the format") as raised:
        read_catalog(path)
    assert raised.value.problem == "unknown_format"
    with pytest.raises(CatalogError, match="unknown catalog format 'xml'"):
        read_catalog(path, fmt="xml")


def test_no_sku_column_says_how_to_fix(tmp_path: Path):
    path = _write(tmp_path, "c.csv", "id,image\n1,a.jpg\n")
    with pytest.raises(CatalogError, match=r"catalog has no 'sku' column") as raised:
        read_catalog(path)
    assert (raised.value.problem, raised.value.details["field"]) == ("missing_column", "sku")
    assert raised.value.details["columns"] == ["id", "image"]
    assert [p.sku for p in read_catalog(path, mapping={"sku": "id"}).products] == ["1"]


def test_no_image_column(tmp_path: Path):
    with pytest.raises(CatalogError, match=r"no 'image' column"):
        read_catalog(_write(tmp_path, "c.csv", "sku,picture\n1,a.jpg\n"))


def test_jsonl_without_sku_field(tmp_path: Path):
    with pytest.raises(CatalogError, match=r"no 'sku' field") as raised:
        read_catalog(_write(tmp_path, "c.jsonl", '{"id": "1", "image": "a.jpg"}\n'))
    assert raised.value.details["field"] == "sku"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("empty.csv", "", "catalog is empty"),
        ("header.csv", "sku,image\n\n", "no records"),
        ("empty.jsonl", "\n\n", "no records"),
        ("dup.csv", "sku,image,sku\n1,a,2\n", "column 'sku' appears twice"),
        ("clash.csv", "sku,image,Colour,colour\n1,a,r,g\n", "both give field 'colour'"),
        ("cjk.csv", "sku,image,颜色\n1,a,红\n", "no usable field name"),
        ("badquote.csv", '"sku,image\n1,a.jpg\n', "catalog header"),
    ],
)
def test_unusable_catalogs(tmp_path: Path, name: str, text: str, message: str):
    with pytest.raises(CatalogError, match=message):
        read_catalog(_write(tmp_path, name, text))


def test_mapping_to_a_missing_column(tmp_path: Path):
    path = _write(tmp_path, "c.csv", "sku,image\n1,a.jpg\n")
    with pytest.raises(CatalogError, match=r"colour is mapped to column 'baseColour'") as raised:
        read_catalog(path, mapping={"colour": "baseColour"})
    assert raised.value.problem == "mapped_column_missing"


def test_a_line_that_is_not_utf8_fails_alone(tmp_path: Path):
    path = tmp_path / "latin1.csv"
    text = "sku,image,title\n1,a.jpg,ok\n2,b.jpg,Café\n3,c.jpg,fine\n"
    path.write_bytes(text.encode("latin-1"))
    read = read_catalog(path)
    assert [p.sku for p in read.products] == ["1", "3"]
    [error] = read.errors
    assert (error.line, error.sku, error.stage) == (3, "2", "read")  # deletes stay skipped
    assert "line 3 is not valid UTF-8" in error.reason


def test_a_header_that_is_not_utf8_is_refused(tmp_path: Path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("sku,image,Größe\n1,a.jpg,M\n".encode("latin-1"))
    with pytest.raises(CatalogError, match="line 1 is not valid UTF-8"):
        read_catalog(path)


def test_colliding_column_can_be_resolved_by_mapping(tmp_path: Path):
    path = _write(tmp_path, "clash.csv", "sku,image,Colour,colour\n1,a,r,g\n")
    [product] = read_catalog(path, mapping={"colour": "Colour"}).products
    assert product.attributes == {"colour": "r"}


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "name"),
    [
        ("Material Type", "material_type"),
        ("  colour-group ", "colour_group"),
        ("class_id", "class_id"),
        ("9lives", "attr_9lives"),
        ("doc_hash", "attr_doc_hash"),
        ("Image Vector", "attr_image_vector"),
        ("Crème Brûlée", "creme_brulee"),
        ("###", ""),
    ],
)
def test_safe_field_name(column: str, name: str):
    assert safe_field_name(column) == name


def test_reserved_fields_cover_the_index_bookkeeping():
    assert set(INTERNAL_FIELDS) <= RESERVED_FIELDS
    assert not RESERVED_FIELDS & set(STANDARD_ATTRIBUTES)
