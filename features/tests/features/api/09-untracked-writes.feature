Feature: Writes at untracked locations are redirected to the nearest tracked ancestor

  Background:
    Given the retail estate
    And "warehouse1" received a delivery of 10 "product123" at "2024-12-26T08:00:00"

  @api-9
  Scenario Outline: The documented redirects: <request>
    When I send POST <request> with:
      """
      <body>
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "<location>"

    Examples:
      | request                                              | body                                                                                                                  | location                                                 |
      | /locations/warehouse1-untracked/deliveries           | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[{"productId":"p1","quantity":5}]} | /locations/WH01/deliveries                               |
      | /locations/untracked1/product123/movements           | {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"}                   | /locations/warehouse1/product123/movements               |
      | /locations/Untracked-1/products/SKU12345/sales       | {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}                                                                              | /locations/Store-001/products/SKU12345/sales             |
      | /locations/Till%201/products/Olive%20Oil/sales       | {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}                                                                              | /locations/Central%20Store/products/Olive%20Oil/sales    |

  @api-9
  Scenario: The ancestor id is percent-encoded byte by byte in upper-case hex
    When I send POST /locations/Till%209/products/Caf%C3%A9%20au%20lait/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "/locations/Caf%C3%A9%20Nord/products/Caf%C3%A9%20au%20lait/sales"

  @api-9
  Scenario: The other segments are kept exactly as received and the query string is dropped
    When I send POST /locations/Till%201/products/olive%2doil/sales?source=till with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "/locations/Central%20Store/products/olive%2doil/sales"

  @api-9
  Scenario: The nearest tracked ancestor wins over farther ones
    Given an estate of:
      | location | parent   | roles                           |
      | Region   |          | Region, TrackedInventoryLocation |
      | Shop     | Region   | Shop, TrackedInventoryLocation   |
      | Counter  | Shop     | Counter                          |
      | Till     | Counter  | Till                             |
    When I send POST /locations/Till/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 303 with body {"status":"LocationNotTracked"}
    And the response has the header "Location" with value "/locations/Shop/products/p1/sales"

  @api-9 @domain-4
  Scenario Outline: Tracking needs the exact role TrackedInventoryLocation: <roles>
    Given an estate of:
      | location | parent | roles                    |
      | Shop     |        | Shop, TrackedInventoryLocation |
      | Desk     | Shop   | <roles>                  |
    When I send POST /locations/Desk/products/p1/sales with:
      """
      {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is <status>

    Examples:
      | roles                                                      | status |
      | TrackedInventoryLocation                                   | 201    |
      | Till, TrackedInventoryLocation                             | 201    |
      | TrackedInventoryLocation, TrackedInventoryLocation         | 201    |
      | trackedinventorylocation                                   | 303    |
      | TrackedInventory                                           | 303    |
      | Till                                                       | 303    |

  @api-9
  Scenario Outline: Without a tracked ancestor the write is refused: <request>
    When I send POST <request> with:
      """
      <body>
      """
    Then the response is 400 with body {"status":"LocationNotTracked"}

    Examples:
      | request                                        | body                                                                                                                   |
      | /locations/Kiosk%207/products/p1/sales         | {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}                                                         |
      | /locations/Returns%20Desk/deliveries           | {"requestId":"d1","supplierId":"s1","supplierRef":"po-1","deliveredAt":"2024-12-07T08:00:00","products":[]}            |
      | /locations/Online/p1/movements                 | {"requestId":"m1","destinationLocationId":"store3","quantity":1,"reason":"replenishment","movedAt":"2024-12-07T09:00:00"} |
      | /locations/London/products/p1/sales            | {"requestId":"r1","quantity":1,"soldAt":"2024-12-07T12:00:00"}                                                         |

  @api-9 @domain-8
  Scenario: A redirect leaves no trace: the same request id at the ancestor is new
    When I send POST /locations/Untracked-1/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 303
    When I send POST /locations/Store-001/products/SKU1/sales with:
      """
      {"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00"}
      """
    Then the response is 201 with body {"requestId":"r1","locationId":"Store-001","productId":"SKU1","quantitySold":5.0,"soldAt":"2024-12-07T12:00:00"}
    And the stock of "SKU1" at "Store-001" is 0.0, pending -5.0, last updated "2024-12-07T12:00:00"

  @api-9
  Scenario: A count at an untracked till is not redirected
    When I send POST /locations/Till%201/products/Olive%20Oil/counts with:
      """
      {"requestId":"c1","reason":"AdminOverride","quantity":3,"countedAt":"2024-12-07T12:00:00"}
      """
    Then the response status is 201
    And the response has no "Location" header
