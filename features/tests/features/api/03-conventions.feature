Feature: Common conventions: content types, error bodies, parsing, date-times and numbers

  Background:
    Given the retail estate
    And "WH01" received a delivery of 100 "p1" at "2024-12-07T08:00:00"

  @api-3
  Scenario Outline: A POST without a JSON content type is refused with an empty body: <path> <content type>
    When I send POST <path> <content type>:
      """
      <body>
      """
    Then the response is 415 with an empty body

    Examples:
      | path                                     | content type                                      | body                                                                                                                                   |
      | /locations/Store-001/products/SKU1/sales | without a content type                            | {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}                                                                         |
      | /locations/Store-001/products/SKU1/sales | with content type "text/plain"                    | {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}                                                                         |
      | /locations/WH01/deliveries               | without a content type                            | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[]}                            |
      | /locations/WH01/deliveries               | with content type "application/xml"               | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[]}                            |
      | /locations/WH01/p1/movements             | without a content type                            | {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}              |
      | /locations/WH01/p1/movements             | with content type "application/x-www-form-urlencoded" | {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}          |
      | /locations/WH01/products/p1/counts       | without a content type                            | {"requestId":"c1","reason":"AdminOverride","quantity":3,"countedAt":"2024-12-07T09:00:00"}                                             |
      | /locations/WH01/products/p1/counts       | with content type "text/json-ish"                 | {"requestId":"c1","reason":"AdminOverride","quantity":3,"countedAt":"2024-12-07T09:00:00"}                                             |

  @api-3
  Scenario Outline: Content type parameters such as a charset are allowed: <content type>
    When I send POST /locations/Store-001/products/SKU1/sales with content type "<content type>":
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201
    And the response content type is "application/json"

    Examples:
      | content type                    |
      | application/json; charset=utf-8 |
      | application/json;charset=UTF-8  |

  @api-3
  Scenario Outline: Every missing field is listed, in the order of the endpoint's table: <path> <body>
    When I send POST <path> with:
      """
      <body>
      """
    Then the response is 400 with body <answer>

    Examples:
      | path                                     | body                                                                                | answer                                                                                   |
      | /locations/Store-001/products/SKU1/sales | {}                                                                                  | {"missingFields":["requestId","quantity","soldAt"]}                                      |
      | /locations/Store-001/products/SKU1/sales | {"soldAt":"2024-12-07T12:00:00"}                                                    | {"missingFields":["requestId","quantity"]}                                               |
      | /locations/Store-001/products/SKU1/sales | {"quantity":5}                                                                      | {"missingFields":["requestId","soldAt"]}                                                 |
      | /locations/WH01/deliveries               | {}                                                                                  | {"missingFields":["requestId","supplierId","supplierRef","deliveredAt","products"]}      |
      | /locations/WH01/deliveries               | {"products":[],"deliveredAt":"2024-12-07T08:00:00","requestId":"d1"}                | {"missingFields":["supplierId","supplierRef"]}                                           |
      | /locations/WH01/p1/movements             | {}                                                                                  | {"missingFields":["requestId","destinationLocationId","quantity","reason","movedAt"]}    |
      | /locations/WH01/p1/movements             | {"movedAt":"2024-12-07T12:00:00","quantity":1,"requestId":"m1"}                     | {"missingFields":["destinationLocationId","reason"]}                                     |
      | /locations/WH01/products/p1/counts       | {}                                                                                  | {"missingFields":["requestId","reason","quantity","countedAt"]}                          |
      | /locations/WH01/products/p1/counts       | {"countedAt":"2024-12-07T12:00:00","quantity":3}                                    | {"missingFields":["requestId","reason"]}                                                 |

  @api-3 @api-6
  Scenario Outline: A delivery line lists only its own missing fields, without a path prefix: <line>
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p2","quantity":1},<line>]}
      """
    Then the response is 400 with body <answer>

    Examples:
      | line                | answer                                    |
      | {"productId":"p1"}  | {"missingFields":["quantity"]}            |
      | {"quantity":1}      | {"missingFields":["productId"]}           |
      | {}                  | {"missingFields":["productId","quantity"]} |

  @api-3
  Scenario Outline: An unparseable date-time is reported with its plain field name: <path>
    When I send POST <path> with:
      """
      <body>
      """
    Then the response is 400 with body <answer>

    Examples:
      | path                                     | body                                                                                                                   | answer                           |
      | /locations/Store-001/products/SKU1/sales | {"requestId":"r1","quantity":5,"soldAt":"invalid-timestamp"}                                                           | {"invalidValues":["soldAt"]}      |
      | /locations/WH01/deliveries               | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"12-07-2024","products":[]}                     | {"invalidValues":["deliveredAt"]} |
      | /locations/WH01/p1/movements             | {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":"replenishment","movedAt":"2024-12-07"}        | {"invalidValues":["movedAt"]}     |
      | /locations/WH01/products/p1/counts       | {"requestId":"c1","reason":"AdminOverride","quantity":3,"countedAt":"2024-12-07 10:00:00"}                             | {"invalidValues":["countedAt"]}   |

  @api-3
  Scenario Outline: The document is read in order: the first problem met decides, missing fields come last: <body>
    When I send POST <path> with:
      """
      <body>
      """
    Then the response is 400 with body <answer>

    Examples:
      | path                                     | body                                                                                                  | answer                            |
      | /locations/WH01/p1/movements             | {"movedAt":"x"}                                                                                       | {"invalidValues":["movedAt"]}     |
      | /locations/Store-001/products/SKU1/sales | {"bogus":1}                                                                                           | {"status":"BadRequest"}           |
      | /locations/Store-001/products/SKU1/sales | {"soldAt":"bad","quantity":"x"}                                                                       | {"invalidValues":["soldAt"]}      |
      | /locations/Store-001/products/SKU1/sales | {"quantity":"x","soldAt":"bad"}                                                                       | {"status":"BadRequest"}           |
      | /locations/Store-001/products/SKU1/sales | {"requestId":null}                                                                                    | {"status":"BadRequest"}           |
      | /locations/Store-001/products/SKU1/sales | {"soldAt":"bad","extra":1}                                                                            | {"invalidValues":["soldAt"]}      |
      | /locations/Store-001/products/SKU1/sales | {"extra":1,"soldAt":"bad"}                                                                            | {"status":"BadRequest"}           |
      | /locations/WH01/p1/movements             | {"reason":"redistribution"}                                                                           | {"status":"BadRequest"}           |
      | /locations/WH01/p1/movements             | {"movedAt":"x","reason":"redistribution"}                                                             | {"invalidValues":["movedAt"]}     |
      | /locations/WH01/deliveries               | {"deliveredAt":"nope","products":[{"productId":"p1"}]}                                                | {"invalidValues":["deliveredAt"]} |
      | /locations/WH01/deliveries               | {"products":[{"productId":"p1"}],"deliveredAt":"nope"}                                                | {"missingFields":["quantity"]}    |
      | /locations/WH01/deliveries               | {"products":[{"productId":"p1","quantity":"x"}],"deliveredAt":"nope"}                                 | {"status":"BadRequest"}           |

  @api-3
  Scenario Outline: Any other unusable body is a bad request: <body>
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      <body>
      """
    Then the response is 400 with body {"status":"BadRequest"}

    Examples:
      | body                                                                                  |
      | {not json                                                                             |
      | []                                                                                    |
      | "a sale"                                                                              |
      | 42                                                                                    |
      | null                                                                                  |
      | {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00","extra":true}           |
      | {"requestId":null,"quantity":5,"soldAt":"2024-12-07T12:00:00"}                        |
      | {"requestId":"r1","quantity":null,"soldAt":"2024-12-07T12:00:00"}                     |
      | {"requestId":"r1","quantity":5,"soldAt":null}                                         |
      | {"requestId":5,"quantity":5,"soldAt":"2024-12-07T12:00:00"}                           |
      | {"requestId":"r1","quantity":5,"soldAt":20241207}                                     |
      | {"requestId":"r1","quantity":"five","soldAt":"2024-12-07T12:00:00"}                   |
      | {"requestId":"r1","quantity":{},"soldAt":"2024-12-07T12:00:00"}                       |
      | {"requestId":"r1","quantity":[5],"soldAt":"2024-12-07T12:00:00"}                      |
      | {"requestId":"r1","quantity":true,"soldAt":"2024-12-07T12:00:00"}                     |
      | {"requestId":"r1","quantity":"NaN","soldAt":"2024-12-07T12:00:00"}                    |
      | {"requestId":"r1","quantity":"Infinity","soldAt":"2024-12-07T12:00:00"}               |
      | {"requestId":"r1","quantity":1e400,"soldAt":"2024-12-07T12:00:00"}                    |
      | {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"} trailing               |

  @api-3
  Scenario: An empty body is a bad request
    When I send POST /locations/Store-001/products/SKU1/sales with an empty JSON body
    Then the response is 400 with body {"status":"BadRequest"}

  @api-3 @api-6
  Scenario Outline: A delivery with unusable lines is a bad request: <products>
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":<products>}
      """
    Then the response is 400 with body {"status":"BadRequest"}

    Examples:
      | products                                      |
      | {}                                            |
      | "p1"                                          |
      | null                                          |
      | [null]                                        |
      | ["p1"]                                        |
      | [{"productId":"p1","quantity":1,"unit":"kg"}] |
      | [{"productId":7,"quantity":1}]                |
      | [{"productId":"p1","quantity":null}]          |

  @api-3 @api-7 @api-8
  Scenario Outline: An enum value outside the allowed set is a bad request: <path> <body>
    When I send POST <path> with:
      """
      <body>
      """
    Then the response is 400 with body {"status":"BadRequest"}

    Examples:
      | path                               | body                                                                                                            |
      | /locations/WH01/p1/movements       | {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":"redistribution","movedAt":"2024-12-07T09:00:00"} |
      | /locations/WH01/p1/movements       | {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":"","movedAt":"2024-12-07T09:00:00"}               |
      | /locations/WH01/p1/movements       | {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":null,"movedAt":"2024-12-07T09:00:00"}             |
      | /locations/WH01/products/p1/counts | {"requestId":"c1","reason":"Recount","quantity":3,"countedAt":"2024-12-07T09:00:00"}                                       |
      | /locations/WH01/products/p1/counts | {"requestId":"c1","reason":"replenishment","quantity":3,"countedAt":"2024-12-07T09:00:00"}                                 |

  @api-3 @api-7
  Scenario Outline: Movement reasons match case-insensitively and are echoed in canonical spelling: <reason>
    When I send POST /locations/WH01/p1/movements with:
      """
      {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":"<reason>","movedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 201 with body {"requestId":"m1","sourceLocationId":"WH01","destinationLocationId":"store3","productId":"p1","quantity":1.0,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}

    Examples:
      | reason        |
      | replenishment |
      | Replenishment |
      | REPLENISHMENT |

  @api-3 @api-8
  Scenario Outline: Count reasons match case-insensitively and are echoed in canonical spelling: <reason>
    When I send POST /locations/WH01/products/p1/counts with:
      """
      {"requestId":"c1","reason":"<reason>","quantity":3,"countedAt":"2024-12-07T09:00:00"}
      """
    Then the response is 201 with body {"requestId":"c1","location":"WH01","productId":"p1","quantity":3.0,"reason":"AdminOverride","countedAt":"2024-12-07T09:00:00"}

    Examples:
      | reason        |
      | AdminOverride |
      | adminoverride |
      | ADMINOVERRIDE |

  @api-3 @api-5
  Scenario Outline: Quantities are doubles given as integers, decimals or numeric strings: <quantity>
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":<quantity>,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 201 with body {"requestId":"r1","locationId":"Store-001","productId":"SKU1","quantitySold":<echo>,"soldAt":"2024-12-07T12:00:00"}

    Examples:
      | quantity | echo  |
      | 5        | 5.0   |
      | 5.0      | 5.0   |
      | 1.25     | 1.25  |
      | "5"      | 5.0   |
      | "1.25"   | 1.25  |
      | 0        | 0.0   |
      | -3       | -3.0  |
      | 150.5    | 150.5 |
      | 1e2      | 100.0 |
      | 0.1      | 0.1   |

  @api-3 @api-5
  Scenario Outline: Date-times are read as local date-times and written back normalised: <input>
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"<input>"}
      """
    Then the response is 201 with body {"requestId":"r1","locationId":"Store-001","productId":"SKU1","quantitySold":1.0,"soldAt":"<output>"}
    And the stock of "SKU1" at "Store-001" is 0.0, pending -1.0, last updated "<output>"

    Examples:
      | input                                    | output                        |
      | 2024-12-07T10:00:00                      | 2024-12-07T10:00:00           |
      | 2024-12-07T10:00:00Z                     | 2024-12-07T10:00:00           |
      | 2024-12-07T10:00:00z                     | 2024-12-07T10:00:00           |
      | 2024-12-07t10:00:00                      | 2024-12-07T10:00:00           |
      | 2024-12-07T10:00                         | 2024-12-07T10:00:00           |
      | 2024-12-07T10:00:00.500                  | 2024-12-07T10:00:00.5         |
      | 2024-12-07T10:00:00.000                  | 2024-12-07T10:00:00           |
      | 2024-12-07T10:00:00.                     | 2024-12-07T10:00:00           |
      | 2024-12-07T10:00:00.1000                 | 2024-12-07T10:00:00.1         |
      | 2024-12-11T09:16:29.577617               | 2024-12-11T09:16:29.577617    |
      | 2024-12-07T10:00:00.123456789            | 2024-12-07T10:00:00.123456789 |
      | 2024-12-13T12:00:00+05:00                | 2024-12-13T12:00:00           |
      | 2024-12-13T12:00:00-08:00                | 2024-12-13T12:00:00           |
      | 2024-12-13T12:00:00+01:00:30             | 2024-12-13T12:00:00           |
      | 2024-12-13T12:00:00+01:00[Europe/London] | 2024-12-13T12:00:00           |
      | 2024-12-13T12:00Z                        | 2024-12-13T12:00:00           |
      | 2024-12-13T12:00:00Z[UTC]                | 2024-12-13T12:00:00           |
      | 2024-12-13T12:00:00-00:00                | 2024-12-13T12:00:00           |
      | 2024-12-07T10:00:00.25+02:00             | 2024-12-07T10:00:00.25        |
      | 2024-02-29T23:59:59.999999999            | 2024-02-29T23:59:59.999999999 |
      | 0001-01-01T00:00:00                      | 0001-01-01T00:00:00           |

  @api-3
  Scenario: A year beyond 9999 is accepted with an explicit sign
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"+12024-12-07T10:00:00"}
      """
    Then the response status is 201

  @api-3
  Scenario Outline: Malformed or impossible date-times are invalid values: "<input>"
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"<input>"}
      """
    Then the response is 400 with body {"invalidValues":["soldAt"]}

    Examples:
      | input                               |
      | invalid-timestamp                   |
      | 12-07-2024                          |
      | 2024-12-07                          |
      | 2024-12-07 10:00:00                 |
      | 2024-12-07T10                       |
      | 2024-02-30T10:00:00                 |
      | 2023-02-29T10:00:00                 |
      | 2024-13-01T10:00:00                 |
      | 2024-12-07T24:00:00                 |
      | 2024-12-07T10:60:00                 |
      | 2024-12-07T10:00:60                 |
      | 2024-12-07T10:00:00.1234567890      |
      | 2024-12-07T10:00:00+01              |
      | 2024-12-07T10:00:00+0100            |
      | 2024-12-07T10:00:00+1:00            |
      | 2024-12-07T10:00:00+01:0            |
      | 2024-12-07T10:00:00[Europe/London]  |
      | 12024-12-07T10:00:00                |
      |                                     |

  @api-3
  Scenario: Quantities in answers are the shortest decimal that reads back as the same double
    When "Store-001" receives a delivery at "2024-12-07T08:00:00" of:
      | product | quantity |
      | SKU1    | 0.1      |
      | SKU1    | 0.2      |
    Then the stock of "SKU1" at "Store-001" is 0.30000000000000004, last updated "2024-12-07T08:00:00"

  @api-3 @api-4
  Scenario: Error bodies are single-key objects served as JSON
    When I send GET /locations/Atlantis/products/p1
    Then the response is 404 with body {"status":"LocationNotFound"}
    And the response content type is "application/json"
