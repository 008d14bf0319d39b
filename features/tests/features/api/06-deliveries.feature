Feature: Recording a delivery

  Background:
    Given the retail estate

  @api-6
  Scenario: A delivery is echoed, quantities with a fraction, timestamp normalised, no delivery id
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-9","deliveredAt":"2024-12-26T15:35:00+01:00","products":[{"productId":"p1","quantity":100}]}
      """
    Then the response is 201 with body:
      """
      {
        "requestId": "d1", "locationId": "WH01", "supplierId": "s1", "supplierRef": "po-9",
        "deliveredAt": "2024-12-26T15:35:00",
        "products": [ { "productId": "p1", "quantity": 100.0 } ]
      }
      """
    And the stock of "p1" at "WH01" is 100.0, last updated "2024-12-26T15:35:00"

  @api-6 @domain-5
  Scenario: A delivery of several products keeps its lines in order
    When I send POST /locations/Central%20Store/deliveries with:
      """
      {"requestId":"d1","supplierId":"Acme Foods","supplierRef":"PO 77","deliveredAt":"2024-12-26T15:35","products":[{"productId":"Olive Oil","quantity":"12"},{"productId":"Bread","quantity":2.5},{"productId":"Milk","quantity":6}]}
      """
    Then the response is 201 with body {"requestId":"d1","locationId":"Central Store","supplierId":"Acme Foods","supplierRef":"PO 77","deliveredAt":"2024-12-26T15:35:00","products":[{"productId":"Olive Oil","quantity":12.0},{"productId":"Bread","quantity":2.5},{"productId":"Milk","quantity":6.0}]}
    And the stock of "Olive Oil" at "Central Store" is 12.0
    And the stock of "Bread" at "Central Store" is 2.5
    And the stock of "Milk" at "Central Store" is 6.0

  @api-6 @domain-5
  Scenario: An empty delivery is accepted
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-9","deliveredAt":"2024-12-26T15:35:00","products":[]}
      """
    Then the response is 201 with body {"requestId":"d1","locationId":"WH01","supplierId":"s1","supplierRef":"po-9","deliveredAt":"2024-12-26T15:35:00","products":[]}

  @api-6 @domain-5
  Scenario Outline: A line quantity that is not positive is a bad request and nothing is recorded: <quantity>
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-9","deliveredAt":"2024-12-26T15:35:00","products":[{"productId":"p1","quantity":10},{"productId":"p2","quantity":<quantity>}]}
      """
    Then the response is 400 with body {"status":"BadRequest"}
    And the stock of "p1" at "WH01" has never been updated
    And the stock of "p2" at "WH01" has never been updated

    Examples:
      | quantity |
      | 0        |
      | 0.0      |
      | -1       |
      | "-0.5"   |

  @api-6
  Scenario: A delivery to an unknown location is not found
    When I send POST /locations/Atlantis/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-9","deliveredAt":"2024-12-26T15:35:00","products":[{"productId":"p1","quantity":1}]}
      """
    Then the response is 404 with body {"status":"LocationNotFound"}

  @api-6 @api-9
  Scenario: A delivery to an untracked location without a tracked ancestor is refused
    When I send POST /locations/Kiosk%207/deliveries with:
      """
      {"requestId":"d1","supplierId":"s1","supplierRef":"po-9","deliveredAt":"2024-12-26T15:35:00","products":[{"productId":"p1","quantity":1}]}
      """
    Then the response is 400 with body {"status":"LocationNotTracked"}

  @api-6
  Scenario: A delivery's supplier is not validated against anything
    When I send POST /locations/WH01/deliveries with:
      """
      {"requestId":"d1","supplierId":"nobody we know","supplierRef":"","deliveredAt":"2024-12-26T15:35:00","products":[{"productId":"p1","quantity":1}]}
      """
    Then the response status is 201
