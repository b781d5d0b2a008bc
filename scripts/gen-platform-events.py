#!/usr/bin/env python3
"""Writes the platform samples under events/: per topic, the payload as the
platform sends it (written for Northwind Goods, in the platforms' shapes),
the HTTP event the ingest Lambda receives (Function URL / API Gateway HTTP
API v2 format, signed with the documented test secrets), and
`storeflow simulate` input lines. Run from the repository root:

    python3 scripts/gen-platform-events.py

Test secrets (never use them for a real store):
  Shopify signing secret   storeflow-test-shopify-secret
  SHOPLINE app secret      storeflow-test-shopline-secret
  tracking write key       storeflow-test-write-key
"""
import base64, hashlib, hmac, json, os, uuid

SHOP = "northwind.myshopify.com"
SHOPLINE_SHOP = "northwind.myshopline.com"
SHOPIFY_SECRET = b"storeflow-test-shopify-secret"
SHOPLINE_SECRET = b"storeflow-test-shopline-secret"
WRITE_KEY = "storeflow-test-write-key"
OUT = "events"

def uid(*parts):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "storeflow:" + ":".join(parts)))

def money(amount, cur="USD"):
    a = f"{amount:.2f}"
    return {"shop_money": {"amount": a, "currency_code": cur},
            "presentment_money": {"amount": a, "currency_code": cur}}

MAYA = {"id": 7390183309482717101, "email": "maya@example.com", "first_name": "Maya", "last_name": "Lind",
        "phone": "+14155550142"}
NOAH = {"id": 7390183309482717377, "email": "noah@example.com", "first_name": "Noah", "last_name": "Berg",
        "phone": None}

def address(c, country="US", province="NY"):
    return {"id": c["id"] + 11, "customer_id": c["id"], "first_name": c["first_name"], "last_name": c["last_name"],
            "company": None, "address1": "48 Orchard Street", "address2": "Apt 3", "city": "New York",
            "province": "New York", "country": "United States", "zip": "10002", "phone": c["phone"],
            "name": f'{c["first_name"]} {c["last_name"]}', "province_code": province, "country_code": country,
            "country_name": "United States", "default": True}

def customer(c, at, consent="subscribed"):
    return {"id": c["id"], "created_at": at, "updated_at": at, "first_name": c["first_name"],
            "last_name": c["last_name"], "state": "enabled", "note": None, "verified_email": True,
            "multipass_identifier": None, "tax_exempt": False, "email": c["email"], "phone": c["phone"],
            "currency": "USD", "addresses": [address(c)], "tax_exemptions": [],
            "email_marketing_consent": {"state": consent, "opt_in_level": "single_opt_in", "consent_updated_at": at},
            "sms_marketing_consent": None, "tags": "newsletter",
            "admin_graphql_api_id": f'gid://shopify/Customer/{c["id"]}', "default_address": address(c)}

PRODUCTS = [
    # product id, variant id, inventory item id, title, variant title, sku, price
    (8812001203311000111, 46120033100011001, 48220033100011001, "Linen shirt", "M", "LIN-SHIRT-M", 65.00),
    (8812001203311000222, 46120033100022001, 48220033100022001, "Canvas tote", None, "CANVAS-TOTE", 18.50),
    (8812001203311000333, 46120033100033001, 48220033100033001, "Coffee beans 1 kg", None, "COFFEE-1KG", 24.00),
]

def line(p, qty, lid):
    pid, vid, _, title, vt, sku, price = p
    return {"id": lid, "admin_graphql_api_id": f"gid://shopify/LineItem/{lid}", "current_quantity": qty,
            "fulfillable_quantity": qty, "fulfillment_service": "manual", "fulfillment_status": None,
            "gift_card": False, "grams": 400, "name": title + (f" - {vt}" if vt else ""),
            "price": f"{price:.2f}", "price_set": money(price), "product_exists": True, "product_id": pid,
            "properties": [], "quantity": qty, "requires_shipping": True, "sku": sku, "taxable": True,
            "title": title, "total_discount": "0.00", "total_discount_set": money(0), "variant_id": vid,
            "variant_inventory_management": "shopify", "variant_title": vt, "vendor": "Northwind Goods",
            "tax_lines": [], "duties": [], "discount_allocations": []}

def checkout_line(p, qty):
    pid, vid, _, title, vt, sku, price = p
    return {"applied_discounts": [], "discount_allocations": [], "key": hashlib.md5(str(vid).encode()).hexdigest(),
            "fulfillment_service": "manual", "gift_card": False, "grams": 400, "presentment_title": title,
            "presentment_variant_title": vt or "", "product_id": pid, "properties": None, "quantity": qty,
            "requires_shipping": True, "sku": sku, "tax_lines": [], "taxable": True, "title": title,
            "variant_id": vid, "variant_title": vt or "", "variant_price": f"{price:.2f}", "vendor": "Northwind Goods",
            "user_id": None, "rank": None, "compare_at_price": None, "line_price": f"{price * qty:.2f}",
            "price": f"{price:.2f}"}

def buyer(c):
    return {"id": c["id"], "created_at": None, "updated_at": None, "first_name": c["first_name"],
            "last_name": c["last_name"], "state": "enabled", "note": None, "verified_email": True,
            "multipass_identifier": None, "tax_exempt": False, "email": c["email"], "phone": c["phone"],
            "currency": "USD", "tax_exemptions": [], "admin_graphql_api_id": f'gid://shopify/Customer/{c["id"]}',
            "default_address": address(c)}

def checkout(c, token, cart, at, items):
    total = sum(p[6] * q for p, q in items)
    return {"id": 35810021122019, "token": token, "cart_token": cart, "email": c["email"], "gateway": None,
            "buyer_accepts_marketing": True, "created_at": at, "updated_at": at, "landing_site": "/",
            "note": None, "note_attributes": [], "referring_site": None, "shipping_lines": [],
            "taxes_included": False, "total_weight": 800, "currency": "USD", "completed_at": None,
            "closed_at": None, "user_id": None, "location_id": None, "source_identifier": None,
            "source_url": None, "device_id": None, "phone": None, "customer_locale": "en-US",
            "line_items": [checkout_line(p, q) for p, q in items], "name": "#35810021122019", "source": None,
            "abandoned_checkout_url": f"https://northwind.example.com/72011/checkouts/{token}/recover?key=3f1c9",
            "discount_codes": [], "tax_lines": [], "source_name": "web", "presentment_currency": "USD",
            "buyer_accepts_sms_marketing": False, "sms_marketing_phone": None, "total_discounts": "0.00",
            "total_line_items_price": f"{total:.2f}", "total_price": f"{total:.2f}", "total_tax": "0.00",
            "subtotal_price": f"{total:.2f}", "total_duties": None, "reservation_token": None,
            "billing_address": address(c), "shipping_address": address(c), "customer": buyer(c)}

def order(c, oid, number, token, cart, created, updated, items, fulfillments=None, cancelled=None):
    total = sum(p[6] * q for p, q in items)
    return {"id": oid, "admin_graphql_api_id": f"gid://shopify/Order/{oid}", "app_id": 580111,
            "browser_ip": "203.0.113.24", "buyer_accepts_marketing": True,
            "cancel_reason": "customer" if cancelled else None, "cancelled_at": cancelled,
            "cart_token": cart, "checkout_token": token, "client_details": None, "closed_at": None,
            "confirmation_number": "NWG7Q2KXA", "confirmed": True, "contact_email": c["email"],
            "created_at": created, "currency": "USD", "current_subtotal_price": f"{total:.2f}",
            "current_total_price": f"{total:.2f}", "current_total_tax": "0.00", "customer_locale": "en-US",
            "discount_codes": [], "email": c["email"], "estimated_taxes": False,
            "financial_status": "paid", "fulfillment_status": "fulfilled" if fulfillments else None,
            "landing_site": "/", "name": f"#{number}", "note": None, "note_attributes": [], "number": number - 1000,
            "order_number": number, "order_status_url": f"https://northwind.example.com/72011/orders/{token}/authenticate?key=9c2e1",
            "payment_gateway_names": ["shopify_payments"], "phone": None, "presentment_currency": "USD",
            "processed_at": created, "source_name": "web", "subtotal_price": f"{total:.2f}",
            "subtotal_price_set": money(total), "tags": "", "tax_lines": [], "taxes_included": False, "test": False,
            "token": token, "total_discounts": "0.00", "total_discounts_set": money(0),
            "total_line_items_price": f"{total:.2f}", "total_outstanding": "0.00", "total_price": f"{total:.2f}",
            "total_price_set": money(total), "total_shipping_price_set": money(0), "total_tax": "0.00",
            "total_tax_set": money(0), "total_weight": 800, "updated_at": updated, "user_id": None,
            "billing_address": address(c), "customer": buyer(c), "discount_applications": [],
            "fulfillments": fulfillments or [], "line_items": [line(p, q, oid + i + 1) for i, (p, q) in enumerate(items)],
            "payment_terms": None, "refunds": [], "shipping_address": address(c), "shipping_lines": []}

def fulfillment(c, fid, oid, at, items, shipment_status=None):
    return {"id": fid, "order_id": oid, "status": "success", "created_at": at, "service": "manual",
            "updated_at": at, "tracking_company": "UPS", "shipment_status": shipment_status, "location_id": 71002,
            "origin_address": None, "email": c["email"], "destination": address(c),
            "line_items": [line(p, q, oid + i + 1) for i, (p, q) in enumerate(items)],
            "tracking_number": "1Z999AA10123456784", "tracking_numbers": ["1Z999AA10123456784"],
            "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
            "tracking_urls": ["https://www.ups.com/track?tracknum=1Z999AA10123456784"], "receipt": {},
            "name": "#1042.1", "admin_graphql_api_id": f"gid://shopify/Fulfillment/{fid}"}

def shopify_headers(topic, body, at, name):
    return {"Content-Type": "application/json", "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(hmac.new(SHOPIFY_SECRET, body, hashlib.sha256).digest()).decode(),
            "X-Shopify-Shop-Domain": SHOP, "X-Shopify-API-Version": "2026-07",
            "X-Shopify-Webhook-Id": uid("webhook", name), "X-Shopify-Triggered-At": at.replace("Z", ".000000Z"),
            "X-Shopify-Event-Id": uid("event", name)}

def lambda_event(path, headers, body, at, b64):
    lower = {k.lower(): v for k, v in headers.items()}
    lower.update({"host": "abcdefghijklmnop.lambda-url.us-east-1.on.aws", "content-length": str(len(body)),
                  "x-forwarded-proto": "https", "x-forwarded-port": "443"})
    return {"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": lower,
            "requestContext": {"accountId": "anonymous", "apiId": "abcdefghijklmnop",
                               "domainName": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
                               "domainPrefix": "abcdefghijklmnop",
                               "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                                        "sourceIp": "198.51.100.7", "userAgent": headers.get("User-Agent", "Shopify-Captain-Hook")},
                               "requestId": uid("request", path, at), "routeKey": "$default", "stage": "$default",
                               "time": at, "timeEpoch": 0},
            "body": base64.b64encode(body).decode() if b64 else body.decode(), "isBase64Encoded": b64}

def dump(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")

def compact(value):
    return json.dumps(value, separators=(",", ":")).encode()

samples = []  # simulate lines of every sample, in time order

def shopify(topic, payload, at, name=None):
    name = name or topic.replace("/", "_")
    body = compact(payload)
    headers = shopify_headers(topic, body, at, name)
    dump(f"{OUT}/shopify/{name}.json", payload)
    dump(f"{OUT}/shopify/{name}.lambda.json", lambda_event("/webhooks/shopify", headers, body, at, True))
    line = {"at": at, "source": "shopify", "topic": topic,
            "headers": {k: v for k, v in headers.items() if k in ("X-Shopify-Shop-Domain", "X-Shopify-Webhook-Id", "X-Shopify-Triggered-At")},
            "body": payload}
    samples.append(line)
    return line

# --- Shopify: every topic, one store, one week --------------------------------------------
T = "2026-11-23T"
items_maya = [(PRODUCTS[0], 1), (PRODUCTS[1], 2)]
items_noah = [(PRODUCTS[2], 2)]
ORDER = 6120044093312001042
abandoned = [
    shopify("customers/create", customer(MAYA, T + "14:00:00Z"), T + "14:00:00Z"),
    shopify("carts/create", {"id": "Z2NwLXVzLWVhc3QxOjAxSkM2", "token": "Z2NwLXVzLWVhc3QxOjAxSkM2",
        "line_items": [dict(checkout_line(PRODUCTS[0], 1), id=PRODUCTS[0][1], key=f"{PRODUCTS[0][1]}:a1",
            discounted_price="65.00", line_price="65.00", original_line_price="65.00", original_price="65.00",
            total_discount="0.00", vendor="Northwind Goods")], "note": None,
        "updated_at": T + "14:40:00.000Z", "created_at": T + "14:40:00.000Z"}, T + "14:40:00Z"),
    shopify("checkouts/create", checkout(MAYA, "c1-7b2f0e5d9a", "Z2NwLXVzLWVhc3QxOjAxSkM2", T + "15:00:00Z", items_maya),
            T + "15:00:00Z"),
]
ordered = [
    shopify("customers/update", customer(NOAH, T + "15:00:00Z"), T + "15:00:00Z"),
    shopify("checkouts/update", checkout(NOAH, "c1-91ab33f0c2", None, T + "15:05:00Z", items_noah), T + "15:05:00Z"),
    shopify("orders/create", order(NOAH, ORDER, 1042, "c1-91ab33f0c2", None, T + "15:20:00Z", T + "15:20:00Z", items_noah),
            T + "15:20:00Z"),
    shopify("orders/paid", order(NOAH, ORDER, 1042, "c1-91ab33f0c2", None, T + "15:20:00Z", T + "15:20:05Z", items_noah),
            T + "15:20:06Z"),
    shopify("fulfillments/create", fulfillment(NOAH, 5120077001, ORDER, "2026-11-24T10:00:00Z", items_noah), "2026-11-24T10:00:00Z"),
    shopify("orders/fulfilled", order(NOAH, ORDER, 1042, "c1-91ab33f0c2", None, T + "15:20:00Z", "2026-11-24T10:00:01Z", items_noah,
            fulfillments=[fulfillment(NOAH, 5120077001, ORDER, "2026-11-24T10:00:00Z", items_noah)]), "2026-11-24T10:00:02Z"),
    shopify("fulfillment_events/create", {"id": 9120033001, "fulfillment_id": 5120077001, "status": "in_transit",
        "message": "Departed from facility", "happened_at": "2026-11-24T18:00:00Z", "city": "Secaucus", "province": "New Jersey",
        "country": "US", "zip": "07094", "address1": None, "latitude": 40.79, "longitude": -74.06, "shop_id": 72011,
        "created_at": "2026-11-24T18:00:03Z", "updated_at": "2026-11-24T18:00:03Z", "estimated_delivery_at": "2026-11-26T20:00:00Z",
        "order_id": ORDER, "admin_graphql_api_id": "gid://shopify/FulfillmentEvent/9120033001"}, "2026-11-24T18:00:03Z"),
    shopify("fulfillments/update", fulfillment(NOAH, 5120077001, ORDER, "2026-11-26T16:10:00Z", items_noah, "delivered"),
            "2026-11-26T16:10:00Z"),
]
others = [
    shopify("customers_email_marketing_consent/update", {"customer_id": NOAH["id"], "email_address": NOAH["email"],
        "email_marketing_consent": {"state": "subscribed", "opt_in_level": "confirmed_opt_in",
                                    "consent_updated_at": T + "15:01:00Z"}}, T + "15:01:00Z"),
    shopify("customers_marketing_consent/update", {"id": MAYA["id"], "phone": MAYA["phone"],
        "sms_marketing_consent": {"state": "subscribed", "opt_in_level": "single_opt_in",
                                  "consent_updated_at": T + "14:01:00Z", "consent_collected_from": "SHOPIFY"}}, T + "14:01:00Z"),
    shopify("carts/update", {"id": "Z2NwLXVzLWVhc3QxOjAxSkM2", "token": "Z2NwLXVzLWVhc3QxOjAxSkM2",
        "line_items": [dict(checkout_line(p, q), id=p[1], key=f"{p[1]}:a1", line_price=f"{p[6]*q:.2f}")
                       for p, q in items_maya], "note": None,
        "updated_at": T + "14:50:00.000Z", "created_at": T + "14:40:00.000Z"}, T + "14:50:00Z"),
    shopify("orders/updated", order(NOAH, ORDER, 1042, "c1-91ab33f0c2", None, T + "15:20:00Z", "2026-11-24T09:00:00Z", items_noah),
            "2026-11-24T09:00:00Z"),
    shopify("orders/partially_fulfilled", order(NOAH, ORDER + 7, 1049, "c1-55d0a1", None, "2026-11-25T08:00:00Z", "2026-11-25T12:00:00Z",
            [(PRODUCTS[0], 1), (PRODUCTS[2], 1)]), "2026-11-25T12:00:00Z"),
    shopify("orders/cancelled", order(NOAH, ORDER + 7, 1049, "c1-55d0a1", None, "2026-11-25T08:00:00Z", "2026-11-25T13:00:00Z",
            [(PRODUCTS[0], 1), (PRODUCTS[2], 1)], cancelled="2026-11-25T13:00:00Z"), "2026-11-25T13:00:00Z"),
    shopify("refunds/create", {"id": 9340012201, "order_id": ORDER, "created_at": "2026-11-28T10:00:00Z",
        "note": "One bag arrived torn", "user_id": 72011, "processed_at": "2026-11-28T10:00:00Z", "duties": [],
        "restock": False, "admin_graphql_api_id": "gid://shopify/Refund/9340012201", "order_adjustments": [],
        "refund_line_items": [{"id": 9440012201, "quantity": 1, "line_item_id": ORDER + 1, "location_id": None,
            "restock_type": "no_restock", "subtotal": 24.0, "total_tax": 0.0, "subtotal_set": money(24),
            "total_tax_set": money(0), "line_item": line(PRODUCTS[2], 2, ORDER + 1)}],
        "transactions": [{"id": 9540012201, "order_id": ORDER, "kind": "refund", "gateway": "shopify_payments",
            "status": "success", "message": "Refund issued", "created_at": "2026-11-28T10:00:00Z", "test": False,
            "authorization": None, "location_id": None, "user_id": None, "parent_id": 9540012100,
            "processed_at": "2026-11-28T10:00:00Z", "device_id": None, "error_code": None, "source_name": "web",
            "receipt": {}, "amount": "24.00", "currency": "USD", "payment_id": "c1.1",
            "admin_graphql_api_id": "gid://shopify/OrderTransaction/9540012201"}]}, "2026-11-28T10:00:00Z"),
    shopify("products/update", {"admin_graphql_api_id": f"gid://shopify/Product/{PRODUCTS[2][0]}",
        "body_html": "<p>Single-origin, roasted weekly.</p>", "created_at": "2026-01-10T09:00:00Z", "handle": "coffee-beans-1kg",
        "id": PRODUCTS[2][0], "product_type": "Coffee", "published_at": "2026-01-10T09:00:00Z", "template_suffix": None,
        "title": "Coffee beans 1 kg", "updated_at": "2026-11-27T00:00:00Z", "vendor": "Northwind Goods", "status": "active",
        "published_scope": "global", "tags": "coffee",
        "variants": [{"admin_graphql_api_id": f"gid://shopify/ProductVariant/{PRODUCTS[2][1]}", "barcode": None,
            "compare_at_price": "24.00", "created_at": "2026-01-10T09:00:00Z", "id": PRODUCTS[2][1],
            "inventory_policy": "deny", "position": 1, "price": "19.20", "product_id": PRODUCTS[2][0], "sku": "COFFEE-1KG",
            "taxable": True, "title": "Default Title", "updated_at": "2026-11-27T00:00:00Z", "option1": "Default Title",
            "option2": None, "option3": None, "image_id": None, "inventory_item_id": PRODUCTS[2][2],
            "inventory_quantity": 0, "old_inventory_quantity": 0}],
        "options": [], "images": [], "image": None, "media": [], "variant_gids": [], "category": None}, "2026-11-27T00:00:00Z"),
    shopify("inventory_levels/update", {"inventory_item_id": PRODUCTS[2][2], "location_id": 71002, "available": 40,
        "updated_at": "2026-11-27T08:00:00Z",
        "admin_graphql_api_id": f"gid://shopify/InventoryLevel/71002?inventory_item_id={PRODUCTS[2][2]}"}, "2026-11-27T08:00:00Z"),
    shopify("customers/data_request", {"shop_id": 72011, "shop_domain": SHOP,
        "customer": {"id": MAYA["id"], "email": MAYA["email"], "phone": MAYA["phone"]},
        "orders_requested": [], "data_request": {"id": 4410}}, "2026-11-29T09:00:00Z"),
    shopify("customers/redact", {"shop_id": 72011, "shop_domain": SHOP,
        "customer": {"id": MAYA["id"], "email": MAYA["email"], "phone": MAYA["phone"]},
        "orders_to_redact": []}, "2026-11-30T09:00:00Z"),
]
# shop/redact: sample files only (replaying it would erase the whole week).
shop_redact = shopify("shop/redact", {"shop_id": 72011, "shop_domain": SHOP}, "2026-12-31T09:00:00Z")
samples.remove(shop_redact)

# --- SHOPLINE: hex signatures, string ids --------------------------------------------------
def shopline(topic, payload, at, name):
    body = compact(payload)
    headers = {"Content-Type": "application/json; charset=utf-8", "X-Shopline-Topic": topic,
               "X-Shopline-Hmac-Sha256": hmac.new(SHOPLINE_SECRET, body, hashlib.sha256).hexdigest(),
               "X-Shopline-Shop-Domain": SHOPLINE_SHOP, "X-Shopline-Shop-Id": "1610418170001",
               "X-Shopline-Merchant-Id": "2000001870", "X-Shopline-API-Version": "v20251201",
               "X-Shopline-Webhook-Id": hashlib.sha1(name.encode()).hexdigest()[:24]}
    dump(f"{OUT}/shopline/{name}.json", payload)
    dump(f"{OUT}/shopline/{name}.lambda.json", lambda_event("/webhooks/shopline", headers, body, at, False))
    return {"at": at, "source": "shopline", "topic": topic,
            "headers": {"X-Shopline-Shop-Domain": SHOPLINE_SHOP, "X-Shopline-Webhook-Id": headers["X-Shopline-Webhook-Id"]},
            "body": payload}

shopline_lines = [
    shopline("customers/create", {"id": "4214751903", "email": "ines@example.com", "first_name": "Ines", "last_name": "Costa",
        "language": "pt", "currency": "EUR", "accepts_marketing": True, "accepts_marketing_updated_at": "2026-11-23T17:00:01+08:00",
        "email_subscribe_flag": 1, "mobile_subscribe_flag": 2, "state": 3, "verified_email": True, "orders_count": 0,
        "total_spent": "0", "created_at": "2026-11-23T17:00:01+08:00", "updated_at": "2026-11-23T17:00:01+08:00",
        "addresses": [{"id": "SL201UA5928751612", "customer_id": "4214751903", "country_code": "PT", "province_code": "",
                       "city": "Lisboa", "zip": "1100-148", "default": True}]}, "2026-11-23T09:00:02Z", "customers_create"),
    shopline("orders/create", {"id": "21066431904512", "name": "#NW1003", "email": "ines@example.com", "currency": "EUR",
        "total_price": "49.00", "subtotal_price": "49.00", "checkout_token": "sl-ck-77a1", "financial_status": "paid",
        "created_at": "2026-11-23T18:10:00+08:00", "updated_at": "2026-11-23T18:10:00+08:00", "processed_at": "2026-11-23T18:10:00+08:00",
        "customer": {"id": "4214751903", "email": "ines@example.com"},
        "line_items": [{"id": "1066431904512001", "product_id": "16057011", "variant_id": "18057011001", "sku": "LIN-SHIRT-S",
                        "title": "Linen shirt", "variant_title": "S", "quantity": 1, "price": "49.00"}]},
        "2026-11-23T10:10:01Z", "orders_create"),
]

# --- Segment tracking: a browser that identifies at checkout --------------------------------
ANON = "a5c0e2d4-61f3-4b9e-9a55-0f2c7d9e1b11"
def seg(kind, at, **fields):
    m = {"type": kind, "messageId": uid("segment", kind, at), "anonymousId": ANON, "timestamp": at,
         "context": {"library": {"name": "analytics.js", "version": "5.2.0"}, "locale": "en-US",
                     "page": {"url": "https://northwind.example.com/"}, "userAgent": "Mozilla/5.0"}}
    m.update(fields)
    return m

product = {"product_id": str(PRODUCTS[0][0]), "variant_id": str(PRODUCTS[0][1]), "sku": "LIN-SHIRT-M",
           "name": "Linen shirt", "variant": "M", "price": 65.0, "quantity": 1, "currency": "USD",
           "category": "Shirts", "url": "https://northwind.example.com/products/linen-shirt",
           "image_url": "https://cdn.northwind.example.com/linen-shirt.jpg"}
segment_calls = [
    ("page", seg("page", "2026-11-23T16:00:00Z", name="Linen shirt", properties={"path": "/products/linen-shirt",
        "title": "Linen shirt - Northwind Goods", "url": "https://northwind.example.com/products/linen-shirt"})),
    ("track_product_viewed", seg("track", "2026-11-23T16:00:05Z", event="Product Viewed", properties=product)),
    ("track_product_added", seg("track", "2026-11-23T16:02:00Z", event="Product Added", properties=dict(product, cart_id="Z2NwLXNsb3Q"))),
    ("track_cart_viewed", seg("track", "2026-11-23T16:02:30Z", event="Cart Viewed",
        properties={"cart_id": "Z2NwLXNsb3Q", "products": [product]})),
    ("identify", seg("identify", "2026-11-23T16:03:00Z", userId=str(7390183309482717555),
        traits={"email": "lena@example.com", "firstName": "Lena", "lastName": "Vogel"})),
    ("track_checkout_started", seg("track", "2026-11-23T16:04:00Z", event="Checkout Started", userId=str(7390183309482717555),
        properties={"checkout_id": "c1-0d3a77e1", "value": 65.0, "currency": "USD", "products": [product]})),
    ("track_order_completed", seg("track", "2026-11-23T16:09:00Z", event="Order Completed", userId=str(7390183309482717555),
        properties={"checkout_id": "c1-0d3a77e1", "order_id": "6120044093312001077", "total": 65.0, "subtotal": 65.0,
                    "currency": "USD", "coupon": "", "products": [product]})),
    ("alias", seg("alias", "2026-11-23T16:09:30Z", previousId=ANON, userId=str(7390183309482717555))),
]
segment_lines = []
for name, m in segment_calls:
    path = "/v1/" + m["type"]
    m["sentAt"] = m["timestamp"]
    body = compact(m)
    auth = "Basic " + base64.b64encode((WRITE_KEY + ":").encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": auth, "User-Agent": "analytics.js/5.2.0"}
    dump(f"{OUT}/segment/{name}.json", m)
    dump(f"{OUT}/segment/{name}.lambda.json", lambda_event(path, headers, body, m["timestamp"], False))
    segment_lines.append({"at": m["timestamp"], "source": "segment", "topic": m["type"], "headers": {}, "body": m})
batch = {"batch": [m for _, m in segment_calls[:2]], "sentAt": "2026-11-23T16:00:06Z", "writeKey": WRITE_KEY}
dump(f"{OUT}/segment/batch.json", batch)
dump(f"{OUT}/segment/batch.lambda.json", lambda_event("/v1/batch", {"Content-Type": "application/json"}, compact(batch),
                                                       "2026-11-23T16:00:06Z", False))

def jsonl(path, header, lines):
    with open(path, "w") as f:
        for h in header:
            f.write("// " + h + "\n")
        for l in sorted(lines, key=lambda l: l["at"]):
            f.write(json.dumps(l) + "\n")

jsonl(f"{OUT}/shopify-checkout-abandoned.jsonl",
      ["Shopify deliveries: Maya signs up, fills a cart and starts a checkout, and never orders.",
       "The starter pack's checkout abandonment emails her at +1 h. Written by scripts/gen-platform-events.py."],
      abandoned)
jsonl(f"{OUT}/shopify-checkout-ordered.jsonl",
      ["Shopify deliveries: Noah checks out and orders 15 minutes later (no reminder; a thank-you),",
       "then the parcel ships and is delivered. Written by scripts/gen-platform-events.py."],
      ordered)
jsonl(f"{OUT}/platform-week.jsonl",
      ["Every platform sample (Shopify topics, SHOPLINE, Segment tracking) as simulate input lines.",
       "Written by scripts/gen-platform-events.py."],
      samples + shopline_lines + segment_lines)
print("wrote", sum(len(fs) for _, _, fs in os.walk(OUT)), "files under", OUT)
